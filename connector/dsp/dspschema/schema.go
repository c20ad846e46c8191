// Package dspschema validates DSP 2025-1 messages against the official JSON
// schemas, embedded from testdata/schemas. It is for tests: the connector
// decodes messages strictly (connector/dsp) and never imports this package,
// so the shipped binary carries neither the schemas nor a JSON-schema library.
package dspschema

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The official DSP 2025-1 JSON schemas (Apache-2.0, see testdata/schemas/LICENSE).
//
//go:embed testdata/schemas
var schemaFS embed.FS

const schemaBase = "https://w3id.org/dspace/2025/1/"

// schemaFor maps a message @type (connector/dsp's Type constants) to its
// official schema.
var schemaFor = map[string]string{
	"CatalogRequestMessage":                 "catalog/catalog-request-message-schema.json",
	"DatasetRequestMessage":                 "catalog/dataset-request-message-schema.json",
	"Catalog":                               "catalog/catalog-schema.json",
	"Dataset":                               "catalog/dataset-schema.json",
	"CatalogError":                          "catalog/catalog-error-schema.json",
	"ContractRequestMessage":                "negotiation/contract-request-message-schema.json",
	"ContractOfferMessage":                  "negotiation/contract-offer-message-schema.json",
	"ContractAgreementMessage":              "negotiation/contract-agreement-message-schema.json",
	"ContractAgreementVerificationMessage":  "negotiation/contract-agreement-verification-message-schema.json",
	"ContractNegotiationEventMessage":       "negotiation/contract-negotiation-event-message-schema.json",
	"ContractNegotiationTerminationMessage": "negotiation/contract-negotiation-termination-message-schema.json",
	"ContractNegotiation":                   "negotiation/contract-negotiation-schema.json",
	"ContractNegotiationError":              "negotiation/contract-negotiation-error-schema.json",
	"TransferRequestMessage":                "transfer/transfer-request-message-schema.json",
	"TransferStartMessage":                  "transfer/transfer-start-message-schema.json",
	"TransferCompletionMessage":             "transfer/transfer-completion-message-schema.json",
	"TransferSuspensionMessage":             "transfer/transfer-suspension-message-schema.json",
	"TransferTerminationMessage":            "transfer/transfer-termination-message-schema.json",
	"TransferProcess":                       "transfer/transfer-process-schema.json",
	"TransferError":                         "transfer/transfer-error-schema.json",
	// /.well-known/dspace-version has no @type; Validate picks this schema
	// for an object with protocolVersions.
	VersionResponse: "common/protocol-version-schema.json",
}

// VersionResponse is the key of the dspace-version document's schema.
const VersionResponse = "VersionResponse"

// embeddedLoader resolves the schemas' w3id.org $id URLs to the embedded copies;
// nothing is fetched from the network.
type embeddedLoader struct{}

func (embeddedLoader) Load(url string) (any, error) {
	rel, ok := strings.CutPrefix(url, schemaBase)
	if !ok {
		return nil, fmt.Errorf("dspschema: schema %s is not a DSP 2025-1 schema", url)
	}
	data, err := schemaFS.ReadFile("testdata/schemas/" + rel)
	if err != nil {
		return nil, fmt.Errorf("dspschema: schema %s: %w", url, err)
	}
	// Three official transfer schemas write "#definitions/…" for the JSON
	// pointer "#/definitions/…"; the copies are kept verbatim and fixed here.
	data = bytes.ReplaceAll(data, []byte(`.json#definitions/`), []byte(`.json#/definitions/`))
	return jsonschema.UnmarshalJSON(bytes.NewReader(data))
}

var (
	schemasOnce sync.Once
	schemas     map[string]*jsonschema.Schema
	schemasErr  error
)

func compileSchemas() {
	c := jsonschema.NewCompiler()
	c.UseLoader(embeddedLoader{})
	schemas = map[string]*jsonschema.Schema{}
	for typ, rel := range schemaFor {
		s, err := c.Compile(schemaBase + rel)
		if err != nil {
			schemasErr = fmt.Errorf("dspschema: compile schema %s: %w", rel, err)
			return
		}
		schemas[typ] = s
	}
}

// Validate validates a JSON message against the official schema chosen
// by its @type. It returns an error naming the type and the failing location.
func Validate(data []byte) error {
	schemasOnce.Do(compileSchemas)
	if schemasErr != nil {
		return schemasErr
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("dspschema: schema validation: not JSON: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("dspschema: schema validation: not a JSON object")
	}
	typ, _ := obj["@type"].(string)
	if _, isVersion := obj["protocolVersions"]; isVersion && typ == "" {
		typ = VersionResponse
	}
	s, ok := schemas[typ]
	if !ok {
		return fmt.Errorf("dspschema: schema validation: no schema for @type %q", typ)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("dspschema: %s does not validate against %s: %w", typ, schemaFor[typ], err)
	}
	return nil
}

// Types lists the message @types that have a schema.
func Types() []string {
	out := make([]string, 0, len(schemaFor))
	for typ := range schemaFor {
		out = append(out, typ)
	}
	return out
}
