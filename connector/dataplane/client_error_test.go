package dataplane_test

import (
	"encoding/json"
	"net/http"

	"github.com/tdsc/tdsc/connector/dataplane"
)

func decodeError(resp *http.Response) error {
	var b dataplane.ErrorBody
	json.NewDecoder(resp.Body).Decode(&b)
	return &dataplane.Error{Status: resp.StatusCode, Reason: b.Reason, Message: b.Message}
}
