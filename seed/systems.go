package seed

import "github.com/sharedmedcard/gateway/medcard"

// DemoSystems are the integrating systems `gateway seed` registers for the
// demo, the README and the tests: a GP's system (Doctor, Nurse) and a
// pharmacy's (Pharmacist), both with the secret demo-secret.
var DemoSystems = []medcard.System{
	{Name: "demo-gp", Secret: "demo-secret", Roles: []medcard.Role{medcard.RoleDoctor, medcard.RoleNurse}},
	{Name: "demo-pharmacy", Secret: "demo-secret", Roles: []medcard.Role{medcard.RolePharmacist}},
}

// The demo pharmacist of the web UI, whom `gateway seed` adds (the README,
// `make run` and the UI's tests sign in as them): a pharmacist of the
// pharmacy DemoPharmacy, the first of the pharmacies that dispensed on the
// seeded cards (formulary.go), so the demo cards show its own history.
const (
	DemoPharmacist         = "demo-pharmacist"
	DemoPharmacistPassword = "demo-pharmacist-password"
	DemoPharmacy           = "SOR:652341000016003"
)
