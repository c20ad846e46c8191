package fabric

import (
	"context"
	"fmt"
	"os/exec"
)

// Deploy defines chaincode name on the profile's network (a fresh world
// state: one chaincode per space) by running the profile's deploy script
// (scripts/fabric.sh deploy NAME), which approves it for every org and
// commits it.
func Deploy(ctx context.Context, p *Profile, name string) error {
	if p.Deploy == "" {
		return fmt.Errorf("fabric: profile names no deploy script: define chaincode %s with the network's tools", name)
	}
	out, err := exec.CommandContext(ctx, p.Deploy, "deploy", name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("fabric: deploy chaincode %s: %v\n%s", name, err, out)
	}
	return nil
}
