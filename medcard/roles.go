package medcard

// Role is the role a caller acts in, as requested in the whitelisting header
// and granted to the integrating system in the catalog.
type Role string

// Roles.
const (
	RoleDoctor     Role = "Doctor"
	RoleNurse      Role = "Nurse"
	RolePharmacist Role = "Pharmacist"
	// RoleCitizen is a citizen portal's (or the citizen's own system's)
	// role: it reads a person's card and access log, and restricts or
	// lifts the restriction of access to the card; it changes nothing
	// else. A system is granted it like any role (gateway system grant
	// NAME Citizen).
	RoleCitizen Role = "Citizen"
)

// ParseRole returns the Role named s.
//
// Errors: FaultRoleNotAllowed for a role we do not know.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleDoctor, RoleNurse, RolePharmacist, RoleCitizen:
		return r, nil
	}
	return "", Errorf(FaultRoleNotAllowed, "unknown role %q", s)
}

var (
	everyone    = []Role{RoleDoctor, RoleNurse, RolePharmacist}
	readers     = []Role{RoleDoctor, RoleNurse, RolePharmacist, RoleCitizen}
	clinicians  = []Role{RoleDoctor, RoleNurse}
	doctors     = []Role{RoleDoctor}
	pharmacists = []Role{RolePharmacist}
	logReaders  = []Role{RoleCitizen, RolePharmacist}
	citizens    = []Role{RoleCitizen}
)

// permissions is the one table of which role may call which operation:
// everyone may read, the citizen too (their own card, through a citizen
// portal, as sundhed.dk shows it); doctors and nurses keep the medication list (nurses
// as delegated staff); only doctors prescribe and mark the card reviewed;
// pharmacists order and dispense. Conflicts are settled by clinicians or
// by a pharmacist at the counter (after talking to the doctor). The
// access log is the citizen's: read through a citizen portal's role, or
// shown by a pharmacist to the citizen at the counter (the web UI's card
// page, for a citizen without a portal); never by the clinicians whose
// look-ups it lists. Every read of it is itself in it. Only the citizen
// restricts access to their card, or lifts the restriction.
var permissions = map[Operation][]Role{
	OpGetMedicineCard:            readers,
	OpGetDrugMedication:          readers,
	OpGetPrescription:            readers,
	OpCreateDrugMedication:       clinicians,
	OpUpdateDrugMedication:       clinicians,
	OpPauseDrugMedication:        clinicians,
	OpUnpauseDrugMedication:      clinicians,
	OpWithdrawDrugMedication:     clinicians,
	OpUnwithdrawDrugMedication:   clinicians,
	OpSetMedicineCardReviewed:    doctors,
	OpSetMedicineCardNotReviewed: doctors,
	OpUpdateMedicineCard:         clinicians,
	OpCreatePrescription:         doctors,
	OpCancelPrescription:         doctors,
	OpCreateOrder:                pharmacists,
	OpCancelOrder:                pharmacists,
	OpStartEffectuation:          pharmacists,
	OpCreatePharmacyEffectuation: pharmacists,
	OpAbortEffectuation:          pharmacists,
	OpUndoEffectuation:           pharmacists,
	OpResolveConflict:            everyone,
	OpGetNewOrders:               pharmacists,
	OpAcknowledgeOrders:          pharmacists,
	OpGetAccessLog:               logReaders,
	OpSetAccessRestriction:       citizens,
}

// authorize checks that a caller acting in role may call op.
//
// Errors: FaultRoleNotAllowed.
func authorize(role Role, op Operation) error {
	for _, r := range permissions[op] {
		if r == role {
			return nil
		}
	}
	return Errorf(FaultRoleNotAllowed, "role %s may not call %s", role, op)
}

// System is an integrating system registered in the catalog: its name (the
// WS-Security username), its shared secret and the roles it may request.
type System struct {
	Name string
	// Secret is the shared secret in clear, held in memory only: what a
	// registration stores (hashed and encrypted, never as it is), and, as
	// the catalog returns a system, the secret decrypted with the gateway's
	// key for checking a PasswordDigest. Empty there when the catalog holds
	// no encrypted secret of the system or the gateway has no key: the
	// system can then authenticate only with PasswordText.
	Secret string
	// PasswordHash is the secret's argon2id hash (PHC string format), which
	// checks a PasswordText.
	PasswordHash string
	Roles        []Role
	// ClientCertSHA256 are the SHA-256 fingerprints (lowercase hex of the
	// DER certificate) of the TLS client certificates the system may
	// present; when any is set it must present one of them, as national
	// health networks require of system certificates. Several allow a
	// rotation without a gap. Empty: no certificate required.
	ClientCertSHA256 []string
}

// RequiresClientCert reports whether the system must authenticate with a
// TLS client certificate besides its UsernameToken.
func (s System) RequiresClientCert() bool { return len(s.ClientCertSHA256) > 0 }

// AcceptsClientCert reports whether a certificate with the SHA-256
// fingerprint sha256Hex (lowercase hex) is one the system may present.
func (s System) AcceptsClientCert(sha256Hex string) bool {
	for _, pin := range s.ClientCertSHA256 {
		if pin == sha256Hex {
			return true
		}
	}
	return false
}

// MayActAs reports whether the system may request role.
func (s System) MayActAs(role Role) bool {
	for _, r := range s.Roles {
		if r == role {
			return true
		}
	}
	return false
}
