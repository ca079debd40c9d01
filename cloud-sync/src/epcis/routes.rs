//! `GET /epcis/events`: the EPCIS 2.0 REST binding's event query, answered
//! with an `EPCISQueryDocument`, a page at a time (`perPage`, and a `Link:
//! <...nextPageToken=...>; rel="next"` header while there is more).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::document::{EpcisEvent, query_document};
use super::query::EventQuery;
use super::uri::pct;
use crate::auth::{Authorized, needs};
use crate::error_code::ErrorCode;
use crate::http::{ApiError, ApiState, ErrorBody, blocking};

/// Where the route is mounted; the next page's link is relative to it.
pub const PATH: &str = "/epcis/events";
const EPCIS_VERSION: &str = "2.0.0";
const CBV_VERSION: &str = "2.0.0";

/// Lists take values separated by `|`. Other parameters of the bindings are
/// refused by name (400), never silently ignored.
#[utoipa::path(get, path = "/epcis/events", tag = "epcis",
    params(
        ("eventType" = Option<String>, Query, description = "ObjectEvent|AggregationEvent|..."),
        ("GE_eventTime" = Option<String>, Query, description = "RFC 3339: events at or after"),
        ("LT_eventTime" = Option<String>, Query, description = "RFC 3339: events before"),
        ("GE_recordTime" = Option<String>, Query, description = "RFC 3339: recorded at or after"),
        ("LT_recordTime" = Option<String>, Query, description = "RFC 3339: recorded before"),
        ("EQ_action" = Option<String>, Query, description = "ADD|OBSERVE|DELETE"),
        ("EQ_bizStep" = Option<String>, Query, description = "CBV business steps (bare terms or URIs)"),
        ("EQ_disposition" = Option<String>, Query, description = "CBV dispositions"),
        ("EQ_readPoint" = Option<String>, Query, description = "Read point URIs"),
        ("EQ_bizLocation" = Option<String>, Query, description = "Business location URIs (urn:waymark:epcis:site:<site>)"),
        ("MATCH_epc" = Option<String>, Query, description = "EPC URIs in epcList or childEPCs"),
        ("MATCH_anyEPC" = Option<String>, Query, description = "EPC URIs anywhere in the event"),
        ("EQ_eventID" = Option<String>, Query, description = "Event ids"),
        ("perPage" = Option<u32>, Query, minimum = 1, description = "Events per page (default 30; more than 1000 is served 1000)"),
        ("nextPageToken" = Option<String>, Query, description = "From the previous page's `Link: <...>; rel=\"next\"`"),
    ),
    responses(
        (status = 200, description = "An EPCISQueryDocument (JSON-LD); `Link` names the next page while there is more",
            body = Object, content_type = "application/json",
            headers(
                ("GS1-EPCIS-Version" = String, description = "2.0.0"),
                ("GS1-CBV-Version" = String, description = "2.0.0"),
                ("Link" = String, description = "The next page, while there is one"),
            )),
        (status = 400, description = "QueryParameterException: a parameter is unknown, unsupported, repeated or malformed", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope orders:read", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn events(
    _auth: Authorized<needs::OrdersRead>,
    State(state): State<Arc<ApiState>>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = params?.0;
    let query = EventQuery::parse(&params)
        .map_err(|problems| ApiError::new(ErrorCode::InvalidQuery, format!("QueryParameterException: {problems}")))?;
    let store = state.store.clone();
    let page = blocking(move || {
        let sites = query.sites();
        let keep = |e: &waymark_proto::v1::Event| Some(EpcisEvent::from_event(e)).filter(|x| query.matches(x));
        Ok(store.epcis_page(
            sites.as_deref(),
            query.event_time,
            query.after.as_ref(),
            query.per_page,
            &keep,
        )?)
    })
    .await?;
    let body = query_document(&page.events, Utc::now().timestamp_millis());
    let mut response = axum::Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        HeaderName::from_static("gs1-epcis-version"),
        HeaderValue::from_static(EPCIS_VERSION),
    );
    headers.insert(
        HeaderName::from_static("gs1-cbv-version"),
        HeaderValue::from_static(CBV_VERSION),
    );
    if let Some(next) = page.next {
        let link = next_link(&params, &next.encode());
        if let Ok(v) = HeaderValue::from_str(&link) {
            headers.insert(header::LINK, v);
        }
    }
    Ok(response)
}

/// The same query with the next page's token.
fn next_link(params: &[(String, String)], token: &str) -> String {
    let mut query: Vec<String> = params
        .iter()
        .filter(|(k, _)| k != "nextPageToken")
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect();
    query.push(format!("nextPageToken={token}"));
    format!("<{PATH}?{}>; rel=\"next\"", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_keeps_the_query_and_replaces_the_token() {
        let params = vec![
            ("EQ_bizStep".to_string(), "loading|shipping".to_string()),
            ("nextPageToken".to_string(), "00".to_string()),
            ("GE_eventTime".to_string(), "2026-12-03T00:00:00+01:00".to_string()),
        ];
        assert_eq!(
            next_link(&params, "abcd"),
            "</epcis/events?EQ_bizStep=loading%7Cshipping&GE_eventTime=2026-12-03T00%3A00%3A00%2B01%3A00&nextPageToken=abcd>; rel=\"next\""
        );
    }
}
