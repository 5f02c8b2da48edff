// Package generator is micro-new's scaffolding engine. It turns a template
// set (see package templates) and a set of answers into files, in four steps:
//
//  1. Plan: every file is rendered in memory with text/template and the sprig
//     functions, Go files are pruned of unused imports and formatted
//     (golang.org/x/tools/imports in format-only mode, so no import is ever
//     guessed), and each is compared with what is on disk: create, identical,
//     update or conflict.
//  2. Show: Plan.Describe prints the plan, with unified diffs for --dry-run.
//  3. Verify (optional): the project is built and tested in a temporary
//     directory before anything is moved into place.
//  4. Write: the files are written into a temporary directory next to the
//     target and moved into place only when every one of them is complete.
//
// A manifest, .micro-new.json, records the generator's version, the answers
// and the hash and owner (generator or user) of every file written, so that a
// later run (micro-new use) regenerates only the generator-owned files and
// merges a user's edits to them three ways.
//
// Further generators (such as typed clients for a service's endpoints) plug
// in the same way: a template set or a few templates rendered into files
// the manifest records as generator-owned, so that they are regenerated,
// never the user's files.
package generator
