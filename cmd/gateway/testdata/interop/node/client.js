// A client of the medicine card gateway in node-soap (the npm package
// `soap`), built from the served WSDL, as a Node integrator would write it:
// soap.createClientAsync on ?wsdl, the port of the SOAP version chosen by
// name (forceSoap12Headers for SOAP 1.2), the UsernameToken from
// soap.WSSecurity and our two headers from addSoapHeader.
//
// It reads a new person's card, creates a drug medication, pauses it,
// resends the pause with the same MessageID (the stored answer comes back
// and nothing changes), unpauses it and resends that with only a
// WS-Addressing MessageID (the headers mustUnderstand, as WCF sends them;
// the answer relates to it), reads the card again allowing a gzip answer
// (node-soap asks for none by default: Accept-Encoding: none) and asks for
// a drug medication that does not exist (HTTP 500, a fault whose
// MedicineCardFault detail says DrugMedicationNotFound, not retryable).
// Exit status 0 and a last line "ok: ..." mean success.
//
// Not used: node-soap's forceGzip option. It gzips the request but keeps
// the Content-Length of the uncompressed body, so the server waits for
// bytes that never come (node-soap 1.6.1 and 1.13.0).
//
// Usage: node client.js WSDL_URL 1.1|1.2 PERSON digest|text
// (text sends a PasswordText: only over HTTPS; NODE_EXTRA_CA_CERTS names
// the CA the test's gateway certificate is from.) NODE_PATH names the
// node_modules directory node-soap is installed in (make test-deps).
'use strict';

const crypto = require('crypto');
const soap = require('soap');

const NS = 'http://sharedmedcard.example/2026/01/medcard';
const WSA = 'http://www.w3.org/2005/08/addressing';
const ENVELOPE = { '1.1': 'http://schemas.xmlsoap.org/soap/envelope/', '1.2': 'http://www.w3.org/2003/05/soap-envelope' };
const SYSTEM = 'demo-gp';
const SECRET = 'demo-secret';
const TIMEOUT_MS = 20000; // per HTTP request: a hung call fails the client, not the test's deadline

function fail(message) {
  process.stderr.write(`FAIL: ${message}\n`);
  process.exit(1);
}

function check(ok, message) {
  if (!ok) {
    fail(message);
  }
}

function newMessageID() {
  return crypto.randomBytes(16).toString('hex');
}

// items lists a write answer's items as "Type Identifier vVersion".
function items(result) {
  return [].concat(result.Item || []).map((i) => `${i.Type} ${i.Identifier} v${i.Version}`).join(', ');
}

async function main() {
  const [wsdl, version, person, password] = process.argv.slice(2);
  check(['1.1', '1.2'].includes(version) && person && ['digest', 'text'].includes(password),
    'usage: node client.js WSDL_URL 1.1|1.2 PERSON digest|text');
  const client = await soap.createClientAsync(wsdl, {
    forceSoap12Headers: version === '1.2',
    wsdl_options: { timeout: TIMEOUT_MS },
  });
  client.setSecurity(new soap.WSSecurity(SYSTEM, SECRET, {
    passwordType: password === 'digest' ? 'PasswordDigest' : 'PasswordText',
    mustUnderstand: true,
  }));
  const port = client.MedicineCardService[version === '1.2' ? 'MedicineCardSoap12Port' : 'MedicineCardSoap11Port'];
  check(port && port.GetMedicineCard, `the WSDL has no port for SOAP ${version}: ${Object.keys(client.MedicineCardService)}`);

  const endpoint = wsdl.split('?')[0];

  // answerEncoding is the Content-Encoding the last answer came with, from
  // the raw headers: axios removes it from the headers it decompresses.
  let answerEncoding;
  client.on('response', (body, response) => {
    const raw = (response && response.request && response.request.res && response.request.res.rawHeaders) || [];
    const at = raw.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === 'content-encoding');
    answerEncoding = at >= 0 ? raw[at + 1] : 'identity';
  });

  let calls = 0;
  // call sends one request with our headers, a MessageHeader with
  // messageID (with wsaMessageID none: WS-Addressing headers instead) and
  // the WhitelistingHeader, and answers the result and the answer's header.
  const call = (operation, args, { messageID = newMessageID(), wsaMessageID, acceptGzip = false } = {}) => {
    client.clearSoapHeaders();
    if (wsaMessageID) {
      const mu = 'soap:mustUnderstand="1"'; // soap is node-soap's envelope prefix in both versions
      client.addSoapHeader(`<wsa:Action xmlns:wsa="${WSA}" ${mu}>${NS}/${operation}</wsa:Action>`);
      client.addSoapHeader(`<wsa:MessageID xmlns:wsa="${WSA}" ${mu}>urn:uuid:${wsaMessageID}</wsa:MessageID>`);
      client.addSoapHeader(`<wsa:To xmlns:wsa="${WSA}" ${mu}>${endpoint}</wsa:To>`);
    } else {
      client.addSoapHeader({ MessageHeader: { MessageID: messageID } }, '', 'mc', NS);
    }
    client.addSoapHeader({
      WhitelistingHeader: { SystemName: SYSTEM, OrganisationIdentifier: 'SOR:483711000016009', RequestedRole: 'Doctor' },
    }, '', 'mc', NS);
    return new Promise((resolve, reject) => {
      port[operation](args, (err, result, rawResponse, header) => {
        calls++;
        if (err) {
          reject(err);
          return;
        }
        resolve({ result, header: header || {}, rawResponse });
      }, { timeout: TIMEOUT_MS }, acceptGzip ? { 'Accept-Encoding': 'gzip' } : {});
    });
  };

  try {
    // A read; the answer's security header carries a wsu:Timestamp, as the
    // request's does (node-soap sends one by default).
    const before = await call('GetMedicineCard', { PersonIdentifier: person });
    check(client.lastRequest.includes(`="${ENVELOPE[version]}"`) && before.rawResponse.includes(`="${ENVELOPE[version]}"`),
      `asked for SOAP ${version}, node-soap sent ${client.lastRequest} and got ${before.rawResponse}`);
    check(Number(before.result.MedicineCard.MedicineCardVersion) === 0,
      `a new person's card has version ${before.result.MedicineCard.MedicineCardVersion}`);
    check(before.header.Security && before.header.Security.Timestamp,
      `the answer's header ${JSON.stringify(before.header)} has no wsse:Security with a wsu:Timestamp`);

    // A write answered with its own element.
    const created = (await call('CreateDrugMedication', {
      PersonIdentifier: person,
      MedicineCardVersion: 0,
      DrugMedication: {
        Drug: { Identifier: '28100636072', Name: 'Pinex', Strength: '500 mg' },
        Dosage: { Text: '2 tabletter 3 gange daglig' },
        Indication: { Text: 'mod smerter' },
        BeginDate: '2026-11-01',
      },
    })).result;
    check(Number(created.MedicineCardVersion) === 1, `CreateDrugMedication answered card version ${created.MedicineCardVersion}`);
    const id = created.DrugMedicationIdentifier;

    // A write answered with WriteResultType, then its resend: the same
    // MessageID, a fresh token, the stored answer.
    const pause = { PersonIdentifier: person, MedicineCardVersion: 1, DrugMedicationIdentifier: id };
    const pauseID = newMessageID();
    const paused = (await call('PauseDrugMedication', pause, { messageID: pauseID })).result;
    check(Number(paused.MedicineCardVersion) === 2, `PauseDrugMedication answered card version ${paused.MedicineCardVersion}`);
    check(items(paused) === `DrugMedication ${id} v2`, `PauseDrugMedication touched ${items(paused)}`);
    const resent = (await call('PauseDrugMedication', pause, { messageID: pauseID })).result;
    check(Number(resent.MedicineCardVersion) === 2 && items(resent) === items(paused),
      `the resent PauseDrugMedication answered version ${resent.MedicineCardVersion}, ${items(resent)}; want the stored answer`);

    // A write identified by its WS-Addressing MessageID alone, and its
    // resend: the stored answer again, relating to that MessageID.
    const wsaID = crypto.randomUUID();
    const unpause = { PersonIdentifier: person, MedicineCardVersion: 2, DrugMedicationIdentifier: id };
    const first = await call('UnpauseDrugMedication', unpause, { wsaMessageID: wsaID });
    check(Number(first.result.MedicineCardVersion) === 3, `UnpauseDrugMedication answered card version ${first.result.MedicineCardVersion}`);
    check(first.header.RelatesTo === `urn:uuid:${wsaID}`,
      `the answer's header ${JSON.stringify(first.header)} has no wsa:RelatesTo urn:uuid:${wsaID}`);
    const second = (await call('UnpauseDrugMedication', unpause, { wsaMessageID: wsaID })).result;
    check(Number(second.MedicineCardVersion) === 3 && items(second) === items(first.result),
      `the resent UnpauseDrugMedication answered version ${second.MedicineCardVersion}, ${items(second)}; want the stored answer`);

    // A read that allows gzip: the card (over 1400 bytes) comes compressed.
    const after = (await call('GetMedicineCard', { PersonIdentifier: person }, { acceptGzip: true })).result.MedicineCard;
    check(answerEncoding === 'gzip', `GetMedicineCard with Accept-Encoding: gzip was answered with Content-Encoding ${answerEncoding}`);
    const drug = [].concat(after.DrugMedication)[0];
    check(Number(after.MedicineCardVersion) === 3 && drug.Status === 'Active',
      `after the resends the card has version ${after.MedicineCardVersion} (${drug.Status}), want 3 with the drug medication active`);
  } catch (err) {
    fail(`unexpected error ${err.message}\n${client.lastRequest}\n${client.lastResponse}`);
  }

  // A fault, with its detail, from HTTP 500.
  try {
    await call('GetDrugMedication', { PersonIdentifier: person, DrugMedicationIdentifier: 999 });
    fail('GetDrugMedication of 999 succeeded, want the fault DrugMedicationNotFound');
  } catch (err) {
    const fault = err.root && err.root.Envelope.Body.Fault;
    check(fault, `GetDrugMedication of 999: ${err.message}, want a SOAP fault`);
    check(err.response && err.response.status === 500, `GetDrugMedication of 999: HTTP ${err.response && err.response.status}, want 500`);
    const code = version === '1.2' ? fault.Code && fault.Code.Value : fault.faultcode;
    check(/:(Client|Sender)$/.test(code), `GetDrugMedication of 999: fault code ${code}, want the sender's fault`);
    const detail = (version === '1.2' ? fault.Detail : fault.detail) || {};
    const mc = detail.MedicineCardFault;
    // node-soap reads a fault's detail without the schema: Retryable is the text "false".
    check(mc && mc.FaultIdentifier === 'DrugMedicationNotFound' && mc.Code === 'not_found' && mc.Retryable === 'false',
      `GetDrugMedication of 999: fault detail ${JSON.stringify(detail)}, want DrugMedicationNotFound (not_found, not retryable)`);
  }
  console.log(`ok: ${calls} calls on SOAP ${version} with a password ${password}`);
}

main().catch((err) => fail(err.stack || String(err)));
