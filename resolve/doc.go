// Package resolve turns the names in a service's configuration, such as
// `--broker rabbitmq`, into a registry, a broker and a store.
//
// A name resolves, in this order, to
//
//  1. the implementation compiled into the service under that name: the
//     core's embedded ones (NewFactories), and any the service registers
//     on its Factories, such as a plugin package imported in-process;
//  2. the installed plugin of that name, <kind>/<name>, a binary in the
//     plugin directory (plugin.DefaultDir, or WithPluginDir) started
//     through a plugin.Manager and verified, before every launch, against
//     the checksum its directory's lock file (micro.lock) pins; if the
//     project has a lock file of its own (micro.lock in the working
//     directory or a parent) that pins the plugin, the two must agree, or
//     the plugin is refused with a *ProjectMismatchError;
//  3. a *NotFoundError, whose message names the command that installs the
//     plugin: `micro-new install broker/rabbitmq`.
//
// A Component's address reaches a compiled-in implementation as
// Params.Address, and a plugin as its "url" setting, the name every plugin
// of the catalog that connects to a server gives its address. Settings, a
// JSON object, reach either as they are, and are decoded strictly.
//
// The configuration comes from a JSON file (ReadFile), environment
// variables and command-line flags (RegisterFlags), in rising order of
// precedence:
//
//	fs := flag.NewFlagSet("greeter", flag.ExitOnError)
//	flags := resolve.RegisterFlags(fs)
//	fs.Parse(os.Args[1:])
//	cfg, err := flags.Config(os.Getenv)
//	...
//	svc, err := micro.New("greeter", micro.WithConfig(cfg))
//
// and then `greeter --broker rabbitmq --broker-address amqp://rabbit:5672`
// runs on RabbitMQ once `micro-new install broker/rabbitmq` has installed
// the plugin.
package resolve
