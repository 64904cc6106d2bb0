// A client of the medicine card gateway written against the classes that
// Apache Axis 1.4's WSDL2Java generated from the SOAP-1.1 view of the
// served WSDL (package medcard.axis, `WSDL2Java -p medcard.axis
// 'URL?wsdl&soap=1.1'`), as an integrator on an old Java stack would: every
// header is a parameter of the generated method, the fault is the generated
// exception.
//
// It reads a new person's card, creates a drug medication, pauses it,
// resends the pause with the same MessageID (the stored answer comes back
// and nothing changes), reads the card again and asks for a drug
// medication that does not exist. Exit status 0 and a last line "ok: ..."
// mean success.
//
// Usage: java Client PERSON (the endpoint is the WSDL's soap:address)
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.text.SimpleDateFormat;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Base64;
import java.util.TimeZone;
import java.util.UUID;

import org.apache.axis.types.URI;

import medcard.axis.*;

public final class Client {
    static final String SYSTEM = "demo-gp";
    static final String SECRET = "demo-secret";
    static final String DIGEST = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
    static final String BASE64 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

    static int calls;

    public static void main(String[] args) throws Exception {
        String person = args[0];
        MedicineCardPortType card = new MedicineCardServiceLocator().getMedicineCardSoap11Port();

        // A read.
        GetMedicineCardRequest read = new GetMedicineCardRequest();
        read.setPersonIdentifier(person);
        GetMedicineCardResponse before = card.getMedicineCard(read, security(), message(newID()), whitelisting());
        calls++;
        check(before.getMedicineCard().getMedicineCardVersion() == 0, "a new person's card has version " + before.getMedicineCard().getMedicineCardVersion());

        // A write answered with its own element.
        SimpleDateFormat day = new SimpleDateFormat("yyyy-MM-dd");
        day.setTimeZone(TimeZone.getTimeZone("UTC"));
        NewDrugMedicationType dm = new NewDrugMedicationType();
        dm.setDrug(new DrugType("28100636072", "Pinex", null, "500 mg", null));
        dm.setDosage(new DosageType("2 tabletter 3 gange daglig"));
        dm.setIndication(new IndicationType(null, "mod smerter"));
        dm.setBeginDate(day.parse("2026-11-01"));
        CreateDrugMedicationRequest create = new CreateDrugMedicationRequest(person, 0, dm);
        CreateDrugMedicationResponse created = card.createDrugMedication(create, security(), message(newID()), whitelisting());
        calls++;
        check(created.getMedicineCardVersion() == 1, "CreateDrugMedication answered card version " + created.getMedicineCardVersion());
        long id = created.getDrugMedicationIdentifier();

        // A write answered with WriteResultType, then its resend: the same
        // MessageID, a fresh token, the stored answer.
        PauseDrugMedicationRequest pause = new PauseDrugMedicationRequest(person, 1, id);
        String pauseID = newID();
        WriteResultType paused = card.pauseDrugMedication(pause, security(), message(pauseID), whitelisting());
        calls++;
        check(paused.getMedicineCardVersion() == 2, "PauseDrugMedication answered card version " + paused.getMedicineCardVersion());
        check(items(paused.getItem()).equals("DrugMedication " + id + " v2"), "PauseDrugMedication touched " + items(paused.getItem()));
        WriteResultType resent = card.pauseDrugMedication(pause, security(), message(pauseID), whitelisting());
        calls++;
        check(resent.getMedicineCardVersion() == 2 && items(resent.getItem()).equals(items(paused.getItem())),
            "the resent PauseDrugMedication answered version " + resent.getMedicineCardVersion() + ", " + items(resent.getItem()) + "; want the stored answer");

        MedicineCardType c = card.getMedicineCard(read, security(), message(newID()), whitelisting()).getMedicineCard();
        calls++;
        check(c.getMedicineCardVersion() == 2 && c.getDrugMedication().length == 1
            && DrugMedicationStatusType.Paused.equals(c.getDrugMedication()[0].getStatus()),
            "after the resend the card has version " + c.getMedicineCardVersion() + ", want 2 with the drug medication paused");

        // A fault: the generated exception carries the detail.
        try {
            card.getDrugMedication(new GetDrugMedicationRequest(person, 999), security(), message(newID()), whitelisting());
            fail("GetDrugMedication of 999 succeeded, want the fault DrugMedicationNotFound");
        } catch (MedicineCardFault f) {
            calls++;
            check("DrugMedicationNotFound".equals(f.getFaultIdentifier()) && "not_found".equals(f.getCode()) && !f.isRetryable(),
                "GetDrugMedication of 999: fault " + f.getFaultIdentifier() + " (" + f.getCode() + "), want DrugMedicationNotFound (not_found)");
        }
        System.out.println("ok: " + calls + " calls on SOAP 1.1");
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

        PasswordString password = new PasswordString(Base64.getEncoder().encodeToString(sha1.digest()));
        password.setType(new URI(DIGEST));
        EncodedString n = new EncodedString(Base64.getEncoder().encodeToString(nonce));
        n.setEncodingType(new URI(BASE64));
        return new SecurityHeaderType(new UsernameTokenType(SYSTEM, password, n, created), null);
    }

    static MessageHeader message(String id) {
        return new MessageHeader(id, null);
    }

    static WhitelistingHeader whitelisting() {
        return new WhitelistingHeader(SYSTEM, null, "SOR:483711000016009", null, "Doctor");
    }

    static String newID() {
        return UUID.randomUUID().toString();
    }

    static String items(ItemType[] items) {
        StringBuilder b = new StringBuilder();
        for (ItemType i : items == null ? new ItemType[0] : items) {
            b.append(b.length() > 0 ? ", " : "").append(i.getType().getValue()).append(' ').append(i.getIdentifier()).append(" v").append(i.getVersion());
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
