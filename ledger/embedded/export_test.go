package embedded

// StateDiff is stateDiff for the external tests: nil when the state kept in
// bbolt answers every State question as a full replay does.
var StateDiff = stateDiff
