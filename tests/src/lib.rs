//! Full-stack test support: a harness that runs central and site gateways as
//! separate processes over real sockets, plus small clients (HTTP, MQTT) and
//! condition waits with deadlines instead of sleeps.

pub mod harness;
pub mod mqtt;
pub mod proxy;
pub mod wait;
