package dcp_test

import (
	"fmt"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
)

// A node's DID document: its key for the three DCP relationships and its
// Credential Service entry; WebURL says where to publish it.
func ExampleNewDocument() {
	k, _ := identity.GenerateEd25519()
	did := "did:web:node.example.com%3A8443:alice"
	doc, err := dcp.NewDocument(did, k.JWK(),
		dcp.Service{ID: "cs", Type: dcp.ServiceCredential, ServiceEndpoint: "https://node.example.com:8443/alice/cs"})
	if err != nil {
		fmt.Println(err)
		return
	}
	u, _ := dcp.WebURL(did)
	ep, _ := doc.ServiceEndpoint(dcp.ServiceCredential)
	fmt.Println(u)
	fmt.Println(doc.CapabilityInvocation[0])
	fmt.Println(ep)
	// Output:
	// https://node.example.com:8443/alice/did.json
	// did:web:node.example.com%3A8443:alice#key-1
	// https://node.example.com:8443/alice/cs
}

// Scopes name credentials by type or id (DCP §5.4.1.2).
func ExampleParseScope() {
	sc, err := dcp.ParseScope(dcp.ScopeMembership)
	fmt.Println(sc.Alias, sc.Discriminator, sc.Operation, err)
	_, err = dcp.ParseScope("openid")
	fmt.Println(err)
	// Output:
	// org.eclipse.dspace.dcp.vc.type MembershipCredential read <nil>
	// dcp: bad presentation query: scope "openid": want alias:discriminator[:read]
}
