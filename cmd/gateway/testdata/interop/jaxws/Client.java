// A client of the medicine card gateway written against the classes that
// JAX-WS RI's wsimport generated from the served WSDL (package
// medcard.jaxws, `wsimport -extension -p medcard.jaxws URL?wsdl`), as a Java
// integrator would: every header is a parameter of the generated method.
//
// It reads a new person's card, creates a drug medication, pauses it,
// resends the pause with the same MessageID (the stored answer comes back
// and nothing changes), reads the card again and asks for a drug
// medication that does not exist (a MedicineCardFault with its detail).
// Exit status 0 and a last line "ok: ..." mean success.
//
// Usage: java Client WSDL_URL soap11|soap12 PERSON
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Base64;
import java.util.List;
import java.util.UUID;
import javax.xml.datatype.DatatypeFactory;

import medcard.jaxws.*;

public final class Client {
    static final String SYSTEM = "demo-gp";
    static final String SECRET = "demo-secret";
    static final String DIGEST = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
    static final String BASE64 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

    static int calls;

    public static void main(String[] args) throws Exception {
        String wsdl = args[0], port = args[1], person = args[2];
        MedicineCardService service = new MedicineCardService(new URL(wsdl));
        MedicineCardPortType card = port.equals("soap12") ? service.getMedicineCardSoap12Port() : service.getMedicineCardSoap11Port();

        // A read.
        GetMedicineCardRequest read = new GetMedicineCardRequest();
        read.setPersonIdentifier(person);
        GetMedicineCardResponse before = card.getMedicineCard(read, security(), message(newID()), whitelisting());
        calls++;
        check(before.getMedicineCard().getMedicineCardVersion() == 0, "a new person's card has version " + before.getMedicineCard().getMedicineCardVersion());

        // A write answered with its own element.
        CreateDrugMedicationRequest create = new CreateDrugMedicationRequest();
        create.setPersonIdentifier(person);
        create.setMedicineCardVersion(0);
        NewDrugMedicationType dm = new NewDrugMedicationType();
        DrugType drug = new DrugType();
        drug.setIdentifier("28100636072");
        drug.setName("Pinex");
        drug.setStrength("500 mg");
        dm.setDrug(drug);
        DosageType dosage = new DosageType();
        dosage.setText("2 tabletter 3 gange daglig");
        dm.setDosage(dosage);
        IndicationType indication = new IndicationType();
        indication.setText("mod smerter");
        dm.setIndication(indication);
        dm.setBeginDate(DatatypeFactory.newInstance().newXMLGregorianCalendar("2026-11-01"));
        create.setDrugMedication(dm);
        CreateDrugMedicationResponse created = card.createDrugMedication(create, security(), message(newID()), whitelisting());
        calls++;
        check(created.getMedicineCardVersion() == 1, "CreateDrugMedication answered card version " + created.getMedicineCardVersion());
        long id = created.getDrugMedicationIdentifier();

        // A write answered with WriteResultType, then its resend: the same
        // MessageID, a fresh token, the stored answer.
        PauseDrugMedicationRequest pause = new PauseDrugMedicationRequest();
        pause.setPersonIdentifier(person);
        pause.setMedicineCardVersion(1);
        pause.setDrugMedicationIdentifier(id);
        String pauseID = newID();
        WriteResultType paused = card.pauseDrugMedication(pause, security(), message(pauseID), whitelisting());
        calls++;
        check(paused.getMedicineCardVersion() == 2, "PauseDrugMedication answered card version " + paused.getMedicineCardVersion());
        check(items(paused.getItem()).equals("DrugMedication " + id + " v2"), "PauseDrugMedication touched " + items(paused.getItem()));
        WriteResultType resent = card.pauseDrugMedication(pause, security(), message(pauseID), whitelisting());
        calls++;
        check(resent.getMedicineCardVersion() == 2 && items(resent.getItem()).equals(items(paused.getItem())),
            "the resent PauseDrugMedication answered version " + resent.getMedicineCardVersion() + ", " + items(resent.getItem()) + "; want the stored answer");

        GetMedicineCardResponse after = card.getMedicineCard(read, security(), message(newID()), whitelisting());
        calls++;
        MedicineCardType c = after.getMedicineCard();
        check(c.getMedicineCardVersion() == 2 && c.getDrugMedication().size() == 1
            && c.getDrugMedication().get(0).getStatus() == DrugMedicationStatusType.PAUSED,
            "after the resend the card has version " + c.getMedicineCardVersion() + ", want 2 with the drug medication paused");

        // A fault, with its detail as the generated exception's fault info.
        GetDrugMedicationRequest missing = new GetDrugMedicationRequest();
        missing.setPersonIdentifier(person);
        missing.setDrugMedicationIdentifier(999);
        try {
            card.getDrugMedication(missing, security(), message(newID()), whitelisting());
            fail("GetDrugMedication of 999 succeeded, want the fault DrugMedicationNotFound");
        } catch (MedicineCardFaultMessage f) {
            calls++;
            MedicineCardFault detail = f.getFaultInfo();
            check("DrugMedicationNotFound".equals(detail.getFaultIdentifier()) && "not_found".equals(detail.getCode()) && !detail.isRetryable(),
                "GetDrugMedication of 999: fault " + detail.getFaultIdentifier() + " (" + detail.getCode() + "), want DrugMedicationNotFound (not_found)");
        }
        System.out.println("ok: " + calls + " calls on " + port);
    }

    // security is a wsse:Security header with a UsernameToken carrying a
    // password digest: Base64(SHA-1(nonce + created + secret)).
    static SecurityHeaderType security() throws Exception {
        byte[] nonce = new byte[16];
        new SecureRandom().nextBytes(nonce);
        String created = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
        MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
        sha1.update(nonce);
        sha1.update(created.getBytes(StandardCharsets.UTF_8));
        sha1.update(SECRET.getBytes(StandardCharsets.UTF_8));

        UsernameTokenType token = new UsernameTokenType();
        token.setUsername(SYSTEM);
        PasswordString password = new PasswordString();
        password.setType(DIGEST);
        password.setValue(Base64.getEncoder().encodeToString(sha1.digest()));
        token.setPassword(password);
        EncodedString n = new EncodedString();
        n.setEncodingType(BASE64);
        n.setValue(Base64.getEncoder().encodeToString(nonce));
        token.setNonce(n);
        token.setCreated(created);
        SecurityHeaderType security = new SecurityHeaderType();
        security.setUsernameToken(token);
        return security;
    }

    static MessageHeader message(String id) {
        MessageHeader h = new MessageHeader();
        h.setMessageID(id);
        return h;
    }

    static WhitelistingHeader whitelisting() {
        WhitelistingHeader h = new WhitelistingHeader();
        h.setSystemName(SYSTEM);
        h.setOrganisationIdentifier("SOR:483711000016009");
        h.setRequestedRole("Doctor");
        return h;
    }

    static String newID() {
        return UUID.randomUUID().toString();
    }

    static String items(List<ItemType> items) {
        StringBuilder b = new StringBuilder();
        for (ItemType i : items) {
            b.append(b.length() > 0 ? ", " : "").append(i.getType().value()).append(' ').append(i.getIdentifier()).append(" v").append(i.getVersion());
        }
        return b.toString();
    }

    static void check(boolean ok, String message) {
        if (!ok) {
            fail(message);
        }
    }

    static void fail(String message) {
        System.err.println("FAIL: " + message);
        System.exit(1);
    }
}
