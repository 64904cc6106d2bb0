// A client of the medicine card gateway written against the proxy that
// Mono's wsdl tool (the .NET contract importer of ASP.NET web services)
// generated from the served WSDL (`wsdl -n:MedCard URL?wsdl`): the headers
// are the proxy's SoapHeader properties, a fault is a SoapException whose
// Detail holds the MedicineCardFault.
//
// It creates a drug medication for a new person and reads it, pauses it,
// resends the pause with the same MessageID (the stored answer comes back
// and nothing changes), reads it again and asks for a drug medication that
// does not exist. Exit status 0 and a last line "ok: ..."
// mean success.
//
// Usage: mono Client.exe 1.1|1.2 PERSON (the endpoint is the WSDL's soap:address)
using System;
using System.Security.Cryptography;
using System.Text;
using System.Web.Services.Protocols;
using System.Xml;
using MedCard;

static class Client
{
    const string System_ = "demo-gp";
    const string Secret = "demo-secret";
    const string Digest = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
    const string Base64 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";
    const string NS = "http://sharedmedcard.example/2026/01/medcard";

    static int calls;

    static int Main(string[] args)
    {
        string version = args[0], person = args[1];
        var card = new MedicineCardService();
        card.SoapVersion = version == "1.2" ? SoapProtocolVersion.Soap12 : SoapProtocolVersion.Soap11;

        // A write answered with its own element: the importer maps the
        // response's children to the return value and out parameters.
        var dm = new NewDrugMedicationType {
            Drug = new DrugType { Identifier = "28100636072", Name = "Pinex", Strength = "500 mg" },
            Dosage = new DosageType { Text = "2 tabletter 3 gange daglig" },
            Indication = new IndicationType { Text = "mod smerter" },
            BeginDate = new DateTime(2026, 11, 1),
        };
        long version_ = 0, dmVersion;
        ItemType[] items;
        WarningType[] warnings;
        Headers(card, NewID());
        long id = card.CreateDrugMedication(person, ref version_, dm, out dmVersion, out items, out warnings);
        calls++;
        if (version_ != 1)
            return Fail("CreateDrugMedication answered card version " + version_);

        // A read. (GetMedicineCard is not called: Mono's XmlSerializer
        // emits invalid IL for the proxy's optional-date flag parameter,
        // IncludeWithdrawnSinceSpecified, to which Mono's wsdl copies the
        // xs:date attribute; .NET's importer does not.)
        DrugMedicationType got;
        Headers(card, NewID());
        long readVersion = card.GetDrugMedication(person, id, out got);
        calls++;
        if (readVersion != 1 || got.Status != DrugMedicationStatusType.Active || got.Drug.Name != "Pinex")
            return Fail("GetDrugMedication answered card version " + readVersion + ", " + got.Status + " " + got.Drug.Name + "; want 1, Active Pinex");

        // A write answered with WriteResultType, then its resend: the same
        // MessageID, a fresh token, the stored answer.
        string pauseID = NewID();
        long pausedVersion = 1;
        Headers(card, pauseID);
        ItemType[] paused = card.PauseDrugMedication(person, ref pausedVersion, id, out warnings);
        calls++;
        if (pausedVersion != 2 || Items(paused) != "DrugMedication " + id + " v2")
            return Fail("PauseDrugMedication answered card version " + pausedVersion + ", " + Items(paused));
        long resentVersion = 1;
        Headers(card, pauseID);
        ItemType[] resent = card.PauseDrugMedication(person, ref resentVersion, id, out warnings);
        calls++;
        if (resentVersion != 2 || Items(resent) != Items(paused))
            return Fail("the resent PauseDrugMedication answered version " + resentVersion + ", " + Items(resent) + "; want the stored answer");

        Headers(card, NewID());
        readVersion = card.GetDrugMedication(person, id, out got);
        calls++;
        if (readVersion != 2 || got.Status != DrugMedicationStatusType.Paused)
            return Fail("after the resend the card has version " + readVersion + ", the drug medication " + got.Status + "; want 2, Paused");

        // A fault: a SoapException with the MedicineCardFault as its detail.
        try {
            Headers(card, NewID());
            DrugMedicationType none;
            card.GetDrugMedication(person, 999, out none);
            return Fail("GetDrugMedication of 999 succeeded, want the fault DrugMedicationNotFound");
        } catch (SoapException e) {
            calls++;
            var ns = new XmlNamespaceManager(new NameTable());
            ns.AddNamespace("mc", NS);
            XmlNode detail = e.Detail == null ? null : e.Detail.SelectSingleNode("//mc:MedicineCardFault", ns);
            string faultID = detail == null ? null : detail.SelectSingleNode("mc:FaultIdentifier", ns).InnerText;
            if (faultID != "DrugMedicationNotFound")
                return Fail("GetDrugMedication of 999: fault " + faultID + " (" + e.Message + "), want DrugMedicationNotFound");
        }
        Console.WriteLine("ok: " + calls + " calls on SOAP " + version);
        return 0;
    }

    // Headers sets the three header blocks of the next request: wsse:Security
    // with a password digest, Base64(SHA-1(nonce + created + secret)), the
    // MessageHeader and the WhitelistingHeader.
    static void Headers(MedicineCardService card, string messageID)
    {
        var nonce = new byte[16];
        RandomNumberGenerator.Create().GetBytes(nonce);
        string created = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'");
        var input = new byte[nonce.Length + Encoding.UTF8.GetByteCount(created + Secret)];
        nonce.CopyTo(input, 0);
        Encoding.UTF8.GetBytes(created + Secret).CopyTo(input, nonce.Length);
        string digest = Convert.ToBase64String(SHA1.Create().ComputeHash(input));
        card.Security = new SecurityHeaderType {
            UsernameToken = new UsernameTokenType {
                Username = System_,
                Password = new PasswordString { Type = Digest, Value = digest },
                Nonce = new EncodedString { EncodingType = Base64, Value = Convert.ToBase64String(nonce) },
                Created = created,
            },
        };
        card.MessageHeaderValue = new MessageHeader { MessageID = messageID };
        card.WhitelistingHeaderValue = new WhitelistingHeader {
            SystemName = System_, OrganisationIdentifier = "SOR:483711000016009", RequestedRole = "Doctor",
        };
    }

    static string NewID() { return Guid.NewGuid().ToString(); }

    static string Items(ItemType[] items)
    {
        var b = new StringBuilder();
        foreach (var i in items ?? new ItemType[0])
            b.Append(b.Length > 0 ? ", " : "").Append(i.Type).Append(' ').Append(i.Identifier).Append(" v").Append(i.Version);
        return b.ToString();
    }

    static int Fail(string message)
    {
        Console.Error.WriteLine("FAIL: " + message);
        return 1;
    }
}
