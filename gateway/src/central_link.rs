//! Connection setup to central, shared by replication, downlink and status.
//! One lazily connected HTTP/2 channel; tonic reconnects it underneath.
//!
//! Site identity: on a plaintext development link the site id travels in the
//! `x-waymark-site` header. mTLS replaces that with the client certificate by
//! configuring the endpoint here; the tasks using the client do not change.

use std::time::Duration;

use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use waymark_proto::SITE_HEADER;
use waymark_proto::v1::site_sync_client::SiteSyncClient;

use crate::config::CentralConfig;

pub type SyncClient = SiteSyncClient<InterceptedService<Channel, SiteMetadata>>;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("central endpoint `{endpoint}`: {detail}")]
    Endpoint { endpoint: String, detail: String },
}

/// Adds the site id to every call.
#[derive(Debug, Clone)]
pub struct SiteMetadata(AsciiMetadataValue);

impl Interceptor for SiteMetadata {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert(SITE_HEADER, self.0.clone());
        Ok(req)
    }
}

pub fn connect_lazy(config: &CentralConfig, site_id: &str) -> Result<SyncClient, LinkError> {
    let err = |detail: String| LinkError::Endpoint {
        endpoint: config.endpoint.clone(),
        detail,
    };
    let endpoint = Endpoint::from_shared(config.endpoint.clone())
        .map_err(|e| err(e.to_string()))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(config.keepalive)
        .keep_alive_timeout(config.keepalive)
        .keep_alive_while_idle(true);
    tracing::warn!(endpoint = %config.endpoint, "central link is plaintext: development only, no site authentication");
    let site: AsciiMetadataValue = MetadataValue::try_from(site_id).map_err(|e| err(e.to_string()))?;
    let channel = endpoint.connect_lazy();
    Ok(SiteSyncClient::with_interceptor(channel, SiteMetadata(site))
        .max_decoding_message_size(16 << 20)
        .max_encoding_message_size(16 << 20))
}
