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
//     plugin: `micro-new install broker/rabbitmq`; or, when neither micro's
//     catalog nor the plugin directory has a plugin of that name, the
//     nearest known name (`--broker redsi`: did you mean "redis"?).
//
// # One place, one rule
//
// Resolver.Open assembles a service's components, in one place: micro.New
// calls it, with the components the service was given (UseRegistry,
// UseBroker, UseStore), and it makes the others from the Config, closing
// what it made if one fails.
//
// An address reaches every implementation the same way: as its "url"
// setting (URLSetting), the name every plugin of the catalog that
// connects to a server gives its address. Resolve merges a Component's
// Address into its Settings once, refusing an address and a url setting
// that disagree, and a compiled-in factory (Params.Settings) and a plugin
// then get the very same JSON object, decoded strictly. A plugin package
// compiled in takes the configuration its binary takes: register it with
// BrokerFunc, RegistryFunc or StoreFunc on Factories.
//
// Whatever resolve prints, addresses, settings and the errors of the
// implementations, goes through package redact: passwords and secret-like
// settings are masked.
//
// # Configuration
//
// The configuration comes from a JSON file (ReadFile), environment
// variables (FromEnv) and command-line flags (RegisterFlags), in rising
// order of precedence. micro.New reads the environment by itself; flags
// are one line more:
//
//	flags := resolve.RegisterFlags(flag.CommandLine)
//	flag.Parse()
//	svc, err := micro.New("greeter", micro.WithFlags(flags))
//
// and then `greeter --broker rabbitmq --broker-address amqp://rabbit:5672`
// (or MICRO_BROKER=rabbitmq MICRO_BROKER_ADDRESS=amqp://rabbit:5672
// greeter) runs on RabbitMQ once `micro-new install broker/rabbitmq` has
// installed the plugin.
//
// # Plugins are linked in
//
// Every service that resolves its components links the plugin host
// (core/plugin, with go-plugin and gRPC), even one that uses only
// compiled-in implementations: MICRO_BROKER=redis must run a plain
// micro.New service on the installed plugin, with no rebuild, and that
// needs the host in the binary. It costs: the greeter example is about
// 21 MB, of which some 14 MB are the host; a program that must be small
// and never loads a plugin can assemble the core's packages itself
// (server.New, client.New, local.New, direct.New) without micro.New.
package resolve
