package broker

// DeliveryHeader is the Message.Header key under which a broker reports which
// delivery attempt a handler is seeing, as a decimal number: "1" for the first
// delivery, "2" for the first redelivery, and so on.
//
// It is a convention, not a requirement: a broker that can count deliveries
// sets it on every delivery, overwriting any value the publisher put there; a
// broker that cannot count them may leave it out. Publishers should not set
// it.
const DeliveryHeader = "Micro-Delivery-Count"
