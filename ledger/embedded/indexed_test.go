package embedded

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tdsc/tdsc/internal/jsondec"
	"github.com/tdsc/tdsc/ledger"
)

// TestIndexedFields: indexedFields are ledger.Record's fields of the same
// names, types and tags, and indexEntries reads no other field: a record
// with every plain field set (strings, numbers, flags) indexes as what the
// derived check decodes of it.
func TestIndexedFields(t *testing.T) {
	rt := reflect.TypeFor[ledger.Record]()
	for f := range reflect.TypeFor[indexedFields]().Fields() {
		rf, ok := rt.FieldByName(f.Name)
		if !ok || rf.Type != f.Type || rf.Tag != f.Tag {
			t.Errorf("indexedFields.%s %v `%s`: ledger.Record has %v `%s` (found %v)", f.Name, f.Type, f.Tag, rf.Type, rf.Tag, ok)
		}
	}
	var r ledger.Record
	v := reflect.ValueOf(&r).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("CN-" + rt.Field(i).Name)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int64, reflect.Int32:
			f.SetInt(int64(i + 1))
		}
	}
	data, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	var f indexedFields
	if err := jsondec.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(indexEntries(&r), indexEntries(f.record()), cmp.AllowUnexported(indexEntry{})); d != "" {
		t.Fatalf("the record and its indexed fields index differently (-+):\n%s", d)
	}
	if len(indexEntries(&r)) < 8 {
		t.Fatalf("only %d entries: the test record does not reach indexEntries' fields", len(indexEntries(&r)))
	}
}
