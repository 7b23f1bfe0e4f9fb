// Package layering is the table of the module's layers and the check that no package imports a
// layer above its own (layering_test.go runs it on `go list` of the module).
package layering
