package seed

import "github.com/sharedmedcard/gateway/medcard"

// DemoSystems are the integrating systems `gateway seed` registers for the
// demo, the README and the tests: a GP's system (Doctor, Nurse) and a
// pharmacy's (Pharmacist), both with the secret demo-secret.
var DemoSystems = []medcard.System{
	{Name: "demo-gp", Secret: "demo-secret", Roles: []medcard.Role{medcard.RoleDoctor, medcard.RoleNurse}},
	{Name: "demo-pharmacy", Secret: "demo-secret", Roles: []medcard.Role{medcard.RolePharmacist}},
}
