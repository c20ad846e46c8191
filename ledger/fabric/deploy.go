package fabric

import "context"

// Deploy defines chaincode name on the profile's network (a fresh world
// state: one chaincode per space) with the profile's network script
// (scripts/fabric.sh deploy NAME), which approves it for every org and
// commits it.
func Deploy(ctx context.Context, p *Profile, name string) error {
	return p.Script(ctx, "deploy", name)
}
