<?php
// A client of the medicine card gateway in PHP's SoapClient, in WSDL mode on
// the served WSDL, as a PHP integrator would write it: the headers are
// SoapHeader values that SoapClient encodes by the WSDL's header parts.
//
// It reads a new person's card, creates a drug medication, pauses it,
// resends the pause with the same MessageID (the stored answer comes back
// and nothing changes), reads the card again and asks for a drug
// medication that does not exist (a SoapFault with the MedicineCardFault
// detail). Exit status 0 and a last line "ok: ..." mean success.
//
// Usage: php client.php WSDL_URL 1.1|1.2 PERSON

const NS = 'http://sharedmedcard.example/2026/01/medcard';
const WSSE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';
const DIGEST = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest';
const BASE64 = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary';
const SYSTEM = 'demo-gp';
const SECRET = 'demo-secret';

function fail(string $message): void
{
    fwrite(STDERR, "FAIL: $message\n");
    exit(1);
}

function check(bool $ok, string $message): void
{
    if (!$ok) {
        fail($message);
    }
}

// headers are the three header blocks of a request: wsse:Security with a
// password digest, Base64(SHA-1(nonce + created + secret)), the
// MessageHeader and the WhitelistingHeader.
function headers(string $messageID): array
{
    $nonce = random_bytes(16);
    $created = gmdate('Y-m-d\TH:i:s\Z');
    $digest = base64_encode(sha1($nonce . $created . SECRET, true));
    return [
        new SoapHeader(WSSE, 'Security', ['UsernameToken' => [
            'Username' => SYSTEM,
            'Password' => ['_' => $digest, 'Type' => DIGEST],
            'Nonce' => ['_' => base64_encode($nonce), 'EncodingType' => BASE64],
            'Created' => $created,
        ]], true),
        new SoapHeader(NS, 'MessageHeader', ['MessageID' => $messageID]),
        new SoapHeader(NS, 'WhitelistingHeader', [
            'SystemName' => SYSTEM, 'OrganisationIdentifier' => 'SOR:483711000016009', 'RequestedRole' => 'Doctor',
        ]),
    ];
}

function items($result): string
{
    $items = $result->Item ?? [];
    if (!is_array($items)) {
        $items = [$items];
    }
    return implode(', ', array_map(fn($i) => "$i->Type $i->Identifier v$i->Version", $items));
}

[$wsdl, $version, $person] = array_slice($argv, 1);
$client = new SoapClient($wsdl, [
    'soap_version' => $version === '1.2' ? SOAP_1_2 : SOAP_1_1,
    'cache_wsdl' => WSDL_CACHE_NONE,
    'exceptions' => true,
    'trace' => true,
]);
$calls = 0;
$call = function (string $operation, array $request, ?string $messageID = null) use ($client, &$calls) {
    $result = $client->__soapCall($operation, [$request], null, headers($messageID ?? bin2hex(random_bytes(16))));
    $calls++;
    return $result;
};

try {
    // A read.
    $before = $call('GetMedicineCard', ['PersonIdentifier' => $person]);
    check($before->MedicineCard->MedicineCardVersion == 0, "a new person's card has version {$before->MedicineCard->MedicineCardVersion}");

    // A write answered with its own element.
    $created = $call('CreateDrugMedication', [
        'PersonIdentifier' => $person, 'MedicineCardVersion' => 0,
        'DrugMedication' => [
            'Drug' => ['Identifier' => '28100636072', 'Name' => 'Pinex', 'Strength' => '500 mg'],
            'Dosage' => ['Text' => '2 tabletter 3 gange daglig'],
            'Indication' => ['Text' => 'mod smerter'],
            'BeginDate' => '2026-11-01',
        ],
    ]);
    check($created->MedicineCardVersion == 1, "CreateDrugMedication answered card version $created->MedicineCardVersion");
    $id = $created->DrugMedicationIdentifier;

    // A write answered with WriteResultType, then its resend: the same
    // MessageID, a fresh token, the stored answer.
    $pause = ['PersonIdentifier' => $person, 'MedicineCardVersion' => 1, 'DrugMedicationIdentifier' => $id];
    $pauseID = bin2hex(random_bytes(16));
    $paused = $call('PauseDrugMedication', $pause, $pauseID);
    check($paused->MedicineCardVersion == 2, "PauseDrugMedication answered card version $paused->MedicineCardVersion");
    check(items($paused) === "DrugMedication $id v2", 'PauseDrugMedication touched ' . items($paused));
    $resent = $call('PauseDrugMedication', $pause, $pauseID);
    check($resent->MedicineCardVersion == 2 && items($resent) === items($paused),
        "the resent PauseDrugMedication answered version $resent->MedicineCardVersion, " . items($resent) . '; want the stored answer');

    $after = $call('GetMedicineCard', ['PersonIdentifier' => $person])->MedicineCard;
    check($after->MedicineCardVersion == 2 && $after->DrugMedication->Status === 'Paused',
        "after the resend the card has version $after->MedicineCardVersion, want 2 with the drug medication paused");
} catch (SoapFault $f) {
    fail("unexpected fault $f->faultcode: $f->faultstring\n" . $client->__getLastResponse());
}

// A fault, with its detail.
try {
    $call('GetDrugMedication', ['PersonIdentifier' => $person, 'DrugMedicationIdentifier' => 999]);
    fail('GetDrugMedication of 999 succeeded, want the fault DrugMedicationNotFound');
} catch (SoapFault $f) {
    $calls++;
    $detail = $f->detail->MedicineCardFault ?? null;
    check($detail !== null && $detail->FaultIdentifier === 'DrugMedicationNotFound' && $detail->Code === 'not_found',
        'GetDrugMedication of 999: fault ' . json_encode($f->detail) . ', want DrugMedicationNotFound (not_found)');
}
echo "ok: $calls calls on SOAP $version\n";
