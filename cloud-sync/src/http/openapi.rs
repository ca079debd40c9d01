//! The API's OpenAPI document, generated from the handlers' `#[utoipa::path]`
//! attributes and the types' `ToSchema` derives (so it follows the code), and
//! served without authentication at [`PATH`].

use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

use super::ErrorBody;
use crate::orders::input::{ParcelBody, ShipmentBody};
use crate::orders::model::Customer;

pub const PATH: &str = "/api/openapi.json";

/// The name of the security scheme every authenticated operation names (also
/// spelled out in `ApiDoc`'s `security`, which takes a literal).
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Waymark central API",
        description = "Orders, their shipments, parcels, status and timelines; sites and their events; \
                       EPCIS 2.0 export; API and enrollment tokens. Every refusal has the body \
                       `{\"error\": {\"code\", \"message\"}}` (`ErrorBody`). Each operation needs a \
                       bearer token holding the scope its description names (`admin` holds every scope)."
    ),
    paths(
        crate::orders::routes::create_order,
        crate::orders::routes::list_orders,
        crate::orders::csv::import_route,
        crate::orders::routes::get_order,
        crate::orders::routes::put_order,
        crate::orders::routes::cancel_order,
        crate::tracking::api::mint_link,
        crate::orders::routes::cancel_shipment,
        crate::orders::routes::correct_parcel,
        crate::orders::routes::find_parcel,
        crate::ops::routes::list_sites,
        crate::ops::routes::site_events,
        crate::pki::routes::issue_enrollment_token,
        crate::auth::routes::create,
        crate::auth::routes::list,
        crate::auth::routes::revoke,
        crate::epcis::routes::events,
        crate::carriers::routes::receive,
        crate::carriers::routes::overview,
        crate::carriers::routes::put_account,
        crate::carriers::routes::delete_account,
        crate::carriers::routes::list_webhooks,
        crate::carriers::routes::retry_webhook,
        crate::carriers::routes::unmatched,
        crate::carriers::routes::tracking,
        document,
        super::healthz,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerScheme),
    security(("bearer" = [])),
    tags(
        (name = "orders", description = "Orders, shipments, parcels, status and timelines"),
        (name = "ops", description = "Sites, their events, probes"),
        (name = "tokens", description = "API tokens and gateway enrollment tokens"),
        (name = "epcis", description = "EPCIS 2.0 REST binding: the event query"),
        (name = "carriers", description = "Carrier webhooks (signed per provider) and their accounts, backlog and events"),
    )
)]
pub struct ApiDoc;

/// The two shapes an order is submitted in. Handlers read `OrderBody`, which
/// takes either and names what is missing; these say it in the document (a
/// test holds their fields to `OrderBody`'s).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum OrderSubmission {
    /// Shipments, each shipped by one site.
    Split(SplitOrder),
    /// The shape before shipments: one site ships every parcel.
    OneShipment(OneShipmentOrder),
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitOrder {
    #[schema(pattern = r"^[^\s\x00-\x1f\x7f]{1,128}$")]
    pub order_number: String,
    /// The merchant's revision; an update needs a newer one. 1 when absent.
    #[schema(minimum = 1)]
    pub revision: Option<u64>,
    /// `routine` when absent; e.g. `high_value`, `b2b`.
    #[schema(pattern = "^[a-z0-9_-]{1,32}$")]
    pub order_type: Option<String>,
    pub brand: Option<String>,
    pub customer: Option<Customer>,
    pub shipments: Vec<ShipmentBody>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OneShipmentOrder {
    #[schema(pattern = r"^[^\s\x00-\x1f\x7f]{1,128}$")]
    pub order_number: String,
    #[schema(minimum = 1)]
    pub revision: Option<u64>,
    #[schema(pattern = "^[a-z0-9_-]{1,32}$")]
    pub order_type: Option<String>,
    pub brand: Option<String>,
    pub customer: Option<Customer>,
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
    pub site_id: String,
    pub parcels: Vec<ParcelBody>,
}

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token: the bootstrap admin token central writes on its first start, \
                         one from `[[api.tokens]]` in the config, or one issued at /api/v1/tokens",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as JSON, rendered once.
fn rendered() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|e| format!("{{\"error\":{{\"code\":\"internal\",\"message\":\"{e}\"}}}}"))
    })
}

/// `GET /api/openapi.json`: this document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "ops", security(()),
    responses((status = 200, description = "The OpenAPI document of this API", body = serde_json::Value)))]
pub async fn document() -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        rendered(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::auth::Gatekeeper;
    use crate::auth::limiter::FailureLimiter;
    use crate::http::ApiState;
    use crate::metrics::SyncMetrics;
    use crate::orders::input::OrderBody;
    use crate::store::{CentralStore, StoreOptions};

    const METHODS: [Method; 5] = [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH];

    fn documented(doc: &utoipa::openapi::OpenApi, path: &str, method: &Method) -> bool {
        let Some(item) = doc.paths.paths.get(path) else {
            return false;
        };
        match *method {
            Method::GET => item.get.is_some(),
            Method::POST => item.post.is_some(),
            Method::PUT => item.put.is_some(),
            Method::DELETE => item.delete.is_some(),
            Method::PATCH => item.patch.is_some(),
            _ => false,
        }
    }

    /// The document names every path the router mounts, and for each path
    /// exactly the methods the router answers (others get 405).
    #[tokio::test]
    async fn the_document_describes_every_mounted_route_and_method() {
        let doc = ApiDoc::openapi();
        let table: BTreeSet<&str> = super::super::routes().iter().map(|(p, _)| *p).collect();
        let in_doc: BTreeSet<&str> = doc.paths.paths.keys().map(String::as_str).collect();
        assert_eq!(table, in_doc, "paths mounted vs documented");

        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(CentralStore::open(&StoreOptions::sqlite_in(dir.path())).expect("store"));
        let metrics = Arc::new(SyncMetrics::default());
        let gatekeeper =
            Gatekeeper::load(store.clone(), &[], metrics.clone(), FailureLimiter::default()).expect("gatekeeper");
        let state = Arc::new(
            ApiState::new(
                None,
                store,
                metrics,
                tokio::sync::watch::channel(0).0,
                Arc::new(gatekeeper),
                &Default::default(),
            )
            .expect("state"),
        );
        let app = super::super::router(state);
        let request = Request::get("/api/v1/orders/%FF").body(Body::empty()).expect("request");
        let response = app.clone().oneshot(request).await.expect("response");
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "authentication comes first"
        );
        for path in table {
            let concrete: String = path
                .split('/')
                .map(|s| if s.starts_with('{') { "x" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            for method in METHODS {
                let request = Request::builder()
                    .method(method.clone())
                    .uri(&concrete)
                    .body(Body::empty())
                    .expect("request");
                let response = app.clone().oneshot(request).await.expect("response");
                let status = response.status();
                let mounted = status != StatusCode::METHOD_NOT_ALLOWED;
                if status.is_client_error() {
                    let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body");
                    let body: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error body");
                    assert!(body["error"]["code"].is_string(), "{method} {path}: {body}");
                }
                assert_eq!(
                    mounted,
                    documented(&doc, path, &method),
                    "{method} {path}: answered {status}"
                );
            }
        }
    }

    fn properties<T: utoipa::PartialSchema>() -> BTreeSet<String> {
        let schema = serde_json::to_value(T::schema()).expect("json");
        schema["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    #[test]
    fn the_order_shapes_hold_every_field_of_the_order_body() {
        let body = properties::<OrderBody>();
        let split = properties::<SplitOrder>();
        let one = properties::<OneShipmentOrder>();
        assert_eq!(body, split.union(&one).cloned().collect(), "OrderBody vs its shapes");
        assert!(!split.contains("site_id") && !one.contains("shipments"));
    }

    #[test]
    fn the_document_renders_and_names_the_error_body() {
        let doc: serde_json::Value = serde_json::from_str(rendered()).expect("json");
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object(), "{doc}");
        assert!(doc["components"]["securitySchemes"][BEARER].is_object(), "{doc}");
    }
}
