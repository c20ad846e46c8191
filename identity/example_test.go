package identity_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/tdsc/tdsc/identity"
)

// A consumer calls a provider's DSP endpoint with a protocol token; the
// provider's middleware verifies it against the registry.
func ExampleRequireProtocol() {
	consumerKey, _ := identity.GenerateEd25519()
	src := identity.NewMemorySource(identity.Participant{
		ID: "consumer", Name: "Consumer", Keys: []identity.JWK{consumerKey.JWK()}, Region: "CN-SH", Status: identity.StatusActive,
	})
	ver, _ := identity.NewVerifier(identity.NewRegistry(src))

	dsp := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := identity.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s", c.Caller())
	})
	srv := httptest.NewServer(identity.RequireProtocol(ver, "provider")(dsp))
	defer srv.Close()

	consumer, _ := identity.NewIssuer("consumer", consumerKey)
	tok, _ := consumer.ProtocolToken("provider")
	req, _ := http.NewRequestWithContext(context.Background(), "POST", srv.URL+"/negotiations/request", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	b := make([]byte, 64)
	n, _ := resp.Body.Read(b)
	fmt.Println(resp.StatusCode, string(b[:n]))

	// The same token again is a replay.
	req, _ = http.NewRequestWithContext(context.Background(), "POST", srv.URL+"/negotiations/request", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp2.Body.Close()
	fmt.Println(resp2.StatusCode)
	// Output:
	// 200 hello consumer
	// 401
}

// A provider issues an access token bound to the consumer's key; the consumer
// sends it with a DPoP proof per request; the provider's data plane verifies
// both and checks the token is for the requested agreement.
func ExampleVerifier_VerifyAccess() {
	ctx := context.Background()
	provKey, _ := identity.GenerateEd25519()
	consKey, _ := identity.GenerateES256()
	src := identity.NewMemorySource(
		identity.Participant{ID: "provider", Name: "P", Keys: []identity.JWK{provKey.JWK()}, Region: "CN-BJ", Status: identity.StatusActive},
		identity.Participant{ID: "consumer", Name: "C", Keys: []identity.JWK{consKey.JWK()}, Region: "CN-SH", Status: identity.StatusActive},
	)
	provider, _ := identity.NewIssuer("provider", provKey)
	ver, _ := identity.NewVerifier(identity.NewRegistry(src), identity.WithSelf("provider"))

	tok, _ := provider.AccessToken(identity.AccessGrant{
		Consumer: "consumer", Audience: "provider/data", Agreement: "agr-1", Dataset: "ds-1", Transfer: "tr-1",
		ConsumerKeyThumbprint: consKey.KeyID(),
	})
	const url = "https://provider.example/data/tr-1"
	proof, _ := identity.DPoPProof(consKey, "GET", url, tok)
	c, err := ver.VerifyAccess(ctx, tok, proof, "GET", url, "provider/data")
	fmt.Println(err, c.Require("agr-1", "ds-1", "tr-1"))

	_, err = ver.VerifyAccess(ctx, tok, "", "GET", url, "provider/data")
	fmt.Println(err != nil, identity.StatusCode(err))
	// Output:
	// <nil> <nil>
	// true 401
}
