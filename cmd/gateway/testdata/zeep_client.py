#!/usr/bin/python3
"""An independent, strict SOAP client for the medicine card gateway.

python3-zeep loads the served WSDL and calls every operation on one port
(SOAP 1.1 or 1.2) with WS-Security password digests. Every request sent and
every response received is validated against the schema inside the WSDL
(lxml XMLSchema), so a missing required element - a false or a zero left out
- fails the run. Exit status 0 and a last line "ok: N operations" mean
success; anything else is a failure with the reason on stderr.

Usage: zeep_client.py WSDL_URL PORT_NAME PERSON
"""
import copy
import sys
import uuid

from lxml import etree
import zeep
from zeep.plugins import HistoryPlugin
from zeep.wsse.username import UsernameToken

NS = "http://sharedmedcard.example/2026/01/medcard"
XS = "http://www.w3.org/2001/XMLSchema"


class Session:
    """One system's binding to a port, with its headers and a validator."""

    def __init__(self, wsdl, port, schema, system, role, org):
        self.history = HistoryPlugin()
        client = zeep.Client(
            wsdl,
            settings=zeep.Settings(strict=True, raw_response=False),
            plugins=[self.history],
            wsse=UsernameToken(system, "demo-secret", use_digest=True),
        )
        self.client = client
        self.service = client.bind("MedicineCardService", port)
        self.schema = schema
        self.system, self.role, self.org = system, role, org
        self.calls = 0

    def headers(self):
        message = self.client.get_element("{%s}MessageHeader" % NS)
        whitelisting = self.client.get_element("{%s}WhitelistingHeader" % NS)
        return [
            message(MessageID=str(uuid.uuid4())),
            whitelisting(SystemName=self.system, OrganisationIdentifier=self.org, RequestedRole=self.role),
        ]

    def call(self, operation, **kwargs):
        result = getattr(self.service, operation)(_soapheaders=self.headers(), **kwargs)
        self.validate(operation, self.history.last_sent["envelope"], "request")
        self.validate(operation, self.history.last_received["envelope"], "response")
        self.calls += 1
        return result

    def expect_fault(self, fault_id, operation, **kwargs):
        try:
            getattr(self.service, operation)(_soapheaders=self.headers(), **kwargs)
        except zeep.exceptions.Fault as fault:
            got = fault.detail.find(".//{%s}FaultIdentifier" % NS) if fault.detail is not None else None
            if got is None or got.text != fault_id:
                fail("%s: fault %s, want %s" % (operation, None if got is None else got.text, fault_id))
            detail = fault.detail.find("{%s}MedicineCardFault" % NS)
            self.schema.assertValid(detail)
            self.calls += 1
            return
        fail("%s: succeeded, want fault %s" % (operation, fault_id))

    def validate(self, operation, envelope, what):
        body = next(el for el in envelope if etree.QName(el).localname == "Body")
        payload = body[0]
        try:
            self.schema.assertValid(payload)
        except etree.DocumentInvalid as err:
            fail("%s %s does not validate against the WSDL's schema: %s\n%s"
                 % (operation, what, err, etree.tostring(payload, pretty_print=True).decode()))


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def schema_of(wsdl_url):
    tree = etree.parse(wsdl_url)
    schemas = [s for s in tree.findall(".//{%s}schema" % XS) if s.get("targetNamespace") == NS]
    if len(schemas) != 1:
        fail("want one inline schema of our namespace in the WSDL, found %d" % len(schemas))
    # The schema's QName values (type="tns:...") use prefixes declared on
    # wsdl:definitions; carry every declaration in scope into a standalone
    # schema document. Our schema refers to no other (the WS-Security
    # schemas beside it describe the Security header only).
    inline = schemas[0]
    standalone = etree.Element(inline.tag, attrib=dict(inline.attrib), nsmap=dict(inline.nsmap))
    standalone.extend(copy.deepcopy(child) for child in inline)
    return etree.XMLSchema(standalone)


def main():
    wsdl, port, person = sys.argv[1], sys.argv[2], sys.argv[3]
    schema = schema_of(wsdl)
    gp = Session(wsdl, port, schema, "demo-gp", "Doctor", "SOR:483711000016009")
    pharmacy = Session(wsdl, port, schema, "demo-pharmacy", "Pharmacist", "SOR:pharmacy-1")

    card = gp.call("GetMedicineCard", PersonIdentifier=person)
    if card.MedicineCardVersion != 0 or card.NeedsAttention is not False:
        fail("a new person's card: version %s, needs attention %s" % (card.MedicineCardVersion, card.NeedsAttention))
    v = 0

    drug = {"Identifier": "28100636072", "Name": "Pinex", "Form": "tabletter", "Strength": "500 mg", "ATCCode": "N02BE01"}
    created = gp.call("CreateDrugMedication", PersonIdentifier=person, MedicineCardVersion=v, DrugMedication={
        "Drug": drug, "Dosage": {"Text": "2 tabletter 3 gange daglig"},
        "Indication": {"Text": "mod smerter"}, "BeginDate": "2026-11-01"})
    v, dm = created.MedicineCardVersion, created.DrugMedicationIdentifier

    def write(session, operation, **kwargs):
        nonlocal v
        result = session.call(operation, PersonIdentifier=person, MedicineCardVersion=v, **kwargs)
        if result.MedicineCardVersion != v + 1:
            fail("%s: card version %s, want %s" % (operation, result.MedicineCardVersion, v + 1))
        v = result.MedicineCardVersion
        return result

    write(gp, "UpdateDrugMedication", DrugMedicationIdentifier=dm, Dosage={"Text": "1 tablet 3 gange daglig"})
    write(gp, "PauseDrugMedication", DrugMedicationIdentifier=dm)
    write(gp, "UnpauseDrugMedication", DrugMedicationIdentifier=dm)
    got = gp.call("GetDrugMedication", PersonIdentifier=person, DrugMedicationIdentifier=dm)
    if got.DrugMedication.Dosage.Text != "1 tablet 3 gange daglig" or got.DrugMedication.Status != "Active":
        fail("GetDrugMedication: %s" % got.DrugMedication)

    rx = write(gp, "CreatePrescription", DrugMedicationIdentifier=dm, PackageNumber="043298", PackageQuantity=1,
               Iterations=1, IterationIntervalDays=0, DosageText="1 tablet 3 gange daglig")
    prescription = next(i.Identifier for i in rx.Item if i.Type == "Prescription")
    open_rx = gp.call("GetPrescription", PersonIdentifier=person)
    if [p.Identifier for p in open_rx.Prescription] != [prescription]:
        fail("GetPrescription: %s" % open_rx)

    write(gp, "SetMedicineCardReviewed")
    write(gp, "SetMedicineCardNotReviewed")
    write(gp, "UpdateMedicineCard", CreateDrugMedication=[{
        "Drug": {"Identifier": "28101004278", "Name": "Amlodipin"}, "Dosage": {"Text": "1 tablet daglig"},
        "Indication": {"Text": "mod forhøjet blodtryk"}, "BeginDate": "2026-11-01"}],
        Change=[{"Operation": "Update", "DrugMedicationIdentifier": dm, "Dosage": {"Text": "2 tabletter daglig"}}],
        SetReviewed=True)

    order = next(i.Identifier for i in write(pharmacy, "CreateOrder", PrescriptionIdentifier=prescription).Item if i.Type == "Order")
    write(pharmacy, "CancelOrder", OrderIdentifier=order)
    order = next(i.Identifier for i in write(pharmacy, "CreateOrder", PrescriptionIdentifier=prescription).Item if i.Type == "Order")
    write(pharmacy, "StartEffectuation", OrderIdentifier=order)
    write(pharmacy, "AbortEffectuation", OrderIdentifier=order)
    write(pharmacy, "StartEffectuation", OrderIdentifier=order)
    dispensed = write(pharmacy, "CreatePharmacyEffectuation", OrderIdentifier=order, PackagesDispensed=1, Terminate=False)
    effectuation = next(i.Identifier for i in dispensed.Item if i.Type == "Effectuation")
    write(pharmacy, "UndoEffectuation", EffectuationIdentifier=effectuation)
    write(gp, "CancelPrescription", PrescriptionIdentifier=prescription)
    write(gp, "WithdrawDrugMedication", DrugMedicationIdentifier=dm)
    write(gp, "UnwithdrawDrugMedication", DrugMedicationIdentifier=dm)

    # Two dosage changes based on the same version: the second is a conflict.
    base = v
    write(gp, "UpdateDrugMedication", DrugMedicationIdentifier=dm, Dosage={"Text": "3 tabletter daglig"})
    clash = gp.call("UpdateDrugMedication", PersonIdentifier=person, MedicineCardVersion=base,
                    DrugMedicationIdentifier=dm, Dosage={"Text": "4 tabletter daglig"})
    if "ConflictWarning" not in [w.Code for w in clash.Warning]:
        fail("a second dosage from the same base: warnings %s, want ConflictWarning" % clash.Warning)
    v = clash.MedicineCardVersion
    card = gp.call("GetMedicineCard", PersonIdentifier=person, IncludePrescriptions=True, IncludeEffectuations=True)
    if card.NeedsAttention is not True:
        fail("after a conflict the card does not need attention")
    write(gp, "ResolveConflict", DrugMedicationIdentifier=dm, ChosenVariant=2)
    card = gp.call("GetMedicineCard", PersonIdentifier=person, IncludePrescriptions=True, IncludeEffectuations=True,
                   IncludeWithdrawnSince="2000-01-01")
    if card.NeedsAttention is not False or card.MedicineCardVersion != v:
        fail("after ResolveConflict: needs attention %s, version %s (want false, %s)" % (card.NeedsAttention, card.MedicineCardVersion, v))

    gp.expect_fault("DrugMedicationNotFound", "GetDrugMedication", PersonIdentifier=person, DrugMedicationIdentifier=999)
    pharmacy.expect_fault("RoleNotAllowed", "CreatePrescription", PersonIdentifier=person, MedicineCardVersion=v,
                          DrugMedicationIdentifier=dm, PackageNumber="1", PackageQuantity=1, Iterations=0,
                          IterationIntervalDays=0, DosageText="x")

    print("ok: %d operations" % (gp.calls + pharmacy.calls))


if __name__ == "__main__":
    main()
