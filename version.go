package micro

// SupportPackageIsVersion1 is referenced by code that micro-new gen and
// protoc-gen-micro generate (const _ bool = micro.SupportPackageIsVersion1),
// so that generated code and the micro it is compiled with are known to
// agree on the API between them.
//
// When that API changes incompatibly, a SupportPackageIsVersion2 = true is
// added and this constant becomes a string that says what to do. Code
// generated for the old API then fails to compile with that message:
//
//	cannot use micro.SupportPackageIsVersion1 (untyped string constant
//	"generated code too old for this micro: run micro-new gen") as bool value
//
// and code generated for a newer micro than the one it is compiled with
// fails on an undefined micro.SupportPackageIsVersionN.
const SupportPackageIsVersion1 = true
