package dsp

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

// schemaFor maps a message @type to its official schema.
var schemaFor = map[string]string{
	TypeCatalogRequestMessage:                 "catalog/catalog-request-message-schema.json",
	TypeDatasetRequestMessage:                 "catalog/dataset-request-message-schema.json",
	TypeCatalog:                               "catalog/catalog-schema.json",
	TypeDataset:                               "catalog/dataset-schema.json",
	TypeCatalogError:                          "catalog/catalog-error-schema.json",
	TypeContractRequestMessage:                "negotiation/contract-request-message-schema.json",
	TypeContractOfferMessage:                  "negotiation/contract-offer-message-schema.json",
	TypeContractAgreementMessage:              "negotiation/contract-agreement-message-schema.json",
	TypeContractAgreementVerificationMessage:  "negotiation/contract-agreement-verification-message-schema.json",
	TypeContractNegotiationEventMessage:       "negotiation/contract-negotiation-event-message-schema.json",
	TypeContractNegotiationTerminationMessage: "negotiation/contract-negotiation-termination-message-schema.json",
	TypeContractNegotiation:                   "negotiation/contract-negotiation-schema.json",
	TypeContractNegotiationError:              "negotiation/contract-negotiation-error-schema.json",
	TypeTransferRequestMessage:                "transfer/transfer-request-message-schema.json",
	TypeTransferStartMessage:                  "transfer/transfer-start-message-schema.json",
	TypeTransferCompletionMessage:             "transfer/transfer-completion-message-schema.json",
	TypeTransferSuspensionMessage:             "transfer/transfer-suspension-message-schema.json",
	TypeTransferTerminationMessage:            "transfer/transfer-termination-message-schema.json",
	TypeTransferProcess:                       "transfer/transfer-process-schema.json",
	TypeTransferError:                         "transfer/transfer-error-schema.json",
}

// embeddedLoader resolves the schemas' w3id.org $id URLs to the embedded copies;
// nothing is fetched from the network.
type embeddedLoader struct{}

func (embeddedLoader) Load(url string) (any, error) {
	rel, ok := strings.CutPrefix(url, schemaBase)
	if !ok {
		return nil, fmt.Errorf("dsp: schema %s is not a DSP 2025-1 schema", url)
	}
	data, err := schemaFS.ReadFile("testdata/schemas/" + rel)
	if err != nil {
		return nil, fmt.Errorf("dsp: schema %s: %w", url, err)
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
			schemasErr = fmt.Errorf("dsp: compile schema %s: %w", rel, err)
			return
		}
		schemas[typ] = s
	}
}

// ValidateSchema validates a JSON message against the official schema chosen
// by its @type. It returns an error naming the type and the failing location.
func ValidateSchema(data []byte) error {
	schemasOnce.Do(compileSchemas)
	if schemasErr != nil {
		return schemasErr
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("dsp: schema validation: not JSON: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("dsp: schema validation: not a JSON object")
	}
	typ, _ := obj["@type"].(string)
	s, ok := schemas[typ]
	if !ok {
		return fmt.Errorf("dsp: schema validation: no schema for @type %q", typ)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("dsp: %s does not validate against %s: %w", typ, schemaFor[typ], err)
	}
	return nil
}
