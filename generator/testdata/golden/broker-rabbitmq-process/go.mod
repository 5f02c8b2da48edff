module example.com/greeter

go 1.26

require github.com/seedmicro/micro v0.0.0-00010101000000-000000000000

// A development build of micro-new: the core comes from its checkout.
replace github.com/seedmicro/micro => ../../../..
