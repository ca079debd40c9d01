//! The tracking routes: the HTML pages under `/track`, not part of the
//! OpenAPI document (they are for people; `api` mints links).
//!
//! An unknown order, a wrong second factor and a bad link all get the same
//! not-found page, status (404) and headers; the lookup reads and compares
//! the same way for an unknown order as for a known one (only a known
//! order's row is decoded). Failures are limited per client and per order
//! number (429 with `Retry-After`), taken before the store is read and
//! given back on success, and counted by reason.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Form, FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::brand::{Brand, Rgb, Theme};
use super::dates::Zone;
use super::lang::{Lang, LangSources, negotiate};
use super::limit::client_key;
use super::lookup::{Factors, order_number};
use super::page::{number_page, order_page};
use super::proxy::client_ip;
use super::templates::{LOOKUP, NOT_FOUND, NUMBER, ORDER, RATE_LIMITED};
use super::{TrackingState, load};
use crate::http::{ApiState, blocking};
use crate::metrics::{PageLabel, ReasonLabel};

/// Form bodies past this are refused before they are parsed.
pub const MAX_FORM_BYTES: usize = 4096;

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' https:; form-action 'self'; \
                   base-uri 'none'; frame-ancestors 'none'";

/// The HTML routes, mounted beside the API router (outside its JSON error layer).
pub fn router(state: Arc<ApiState>) -> axum::Router {
    axum::Router::new()
        .route("/track", get(lookup_form).post(lookup))
        .route("/track/number", post(by_number))
        .route("/track/static/style.css", get(stylesheet))
        .route("/track/static/theme/{file}", get(theme))
        .route("/track/{token}", get(by_link))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(state)
}

/// The client's address (the limits' key): the peer, or what a trusted
/// proxy says in `X-Forwarded-For`; unspecified for a router driven in-process.
pub struct Client(IpAddr);

impl FromRequestParts<Arc<ApiState>> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<ApiState>) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().unwrap_or("\u{0}invalid"));
        let ip = client_ip(peer, forwarded, &api.tracking.settings.trusted_proxies);
        Ok(Self(client_key(ip)))
    }
}

/// `?lang=xx` of a query string.
fn query_lang(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "lang")
        .map(|(_, v)| v)
}

fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())
}

/// The language of a page that knows no order: URL, then browser, then the
/// default brand's (so it says nothing about any order).
/// The language of the answer to a posted form: the URL's, else the form's
/// (the page it was filled on), else the browser's.
fn posted_lang(t: &TrackingState, query: Option<&str>, form: &LookupForm, headers: &HeaderMap) -> Lang {
    anonymous_lang(t, query_lang(query).or(form.lang.as_deref()), headers)
}

fn anonymous_lang(t: &TrackingState, url_lang: Option<&str>, headers: &HeaderMap) -> Lang {
    negotiate(LangSources {
        query: url_lang,
        accept_language: accept_language(headers),
        brand_default: t.settings.default_brand.default_language,
        ..LangSources::default()
    })
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    r
}

/// Renders `name`; a template that fails (they were all rendered at start,
/// so this is not expected) gives a plain 500 page.
fn render<P: serde::Serialize>(
    api: &ApiState,
    status: StatusCode,
    name: &'static str,
    lang: Lang,
    brand: &Brand,
    page: &P,
) -> Response {
    let t = &api.tracking;
    match t.settings.templates.render(name, lang, &brand.view(), page) {
        Ok(body) => {
            api.metrics
                .tracking_pages
                .get_or_create(&PageLabel { page: page_label(name) })
                .inc();
            html(status, body)
        }
        Err(e) => {
            tracing::error!(template = name, error = %e, "a tracking template failed");
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><html lang=\"en\"><title>Error</title><main><h1>Something went wrong</h1></main></html>"
                    .to_string(),
            )
        }
    }
}

fn page_label(template: &str) -> &'static str {
    match template {
        LOOKUP => "lookup",
        ORDER => "order",
        NUMBER => "number",
        NOT_FOUND => "not_found",
        RATE_LIMITED => "rate_limited",
        _ => "other",
    }
}

fn reject(api: &ApiState, reason: &'static str) {
    api.metrics
        .tracking_rejections
        .get_or_create(&ReasonLabel { reason })
        .inc();
}

fn not_found(api: &ApiState, lang: Lang) -> Response {
    let brand = &api.tracking.settings.default_brand;
    render(api, StatusCode::NOT_FOUND, NOT_FOUND, lang, brand, &())
}

fn rate_limited(api: &ApiState, lang: Lang, retry_after: Duration) -> Response {
    reject(api, "rate_limited");
    let brand = &api.tracking.settings.default_brand;
    let mut r = render(api, StatusCode::TOO_MANY_REQUESTS, RATE_LIMITED, lang, brand, &());
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after.as_secs().max(1)));
    r
}

/// The order page of `data`, in the language the request and the order choose.
fn order_response(
    api: &ApiState,
    data: &super::page::OrderData,
    url_lang: Option<&str>,
    link: Option<Lang>,
    headers: &HeaderMap,
) -> Response {
    let t = &api.tracking;
    let brand = t.brand(data.order.brand.as_deref());
    let lang = negotiate(LangSources {
        query: url_lang,
        link,
        accept_language: accept_language(headers),
        customer: data.order.customer.language.as_deref(),
        brand_default: brand.default_language,
    });
    let zone = Zone::parse(data.order.customer.time_zone.as_deref());
    let page = order_page(data, brand, lang, zone);
    render(api, StatusCode::OK, ORDER, lang, brand, &page)
}

/// `GET /track`: the lookup forms.
async fn lookup_form(State(api): State<Arc<ApiState>>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let lang = anonymous_lang(&api.tracking, query_lang(query.as_deref()), &headers);
    render(
        &api,
        StatusCode::OK,
        LOOKUP,
        lang,
        &api.tracking.settings.default_brand,
        &(),
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct LookupForm {
    pub order_number: Option<String>,
    pub email: Option<String>,
    pub postal_code: Option<String>,
    pub tracking_number: Option<String>,
    /// The language of the page the form was on.
    pub lang: Option<String>,
}

/// `POST /track`: order number and email or postal code.
async fn lookup(
    State(api): State<Arc<ApiState>>,
    Client(client): Client,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    form: Result<Form<LookupForm>, FormRejection>,
) -> Response {
    let t = &api.tracking;
    let form = form.map(|f| f.0).unwrap_or_default();
    let lang = posted_lang(t, query.as_deref(), &form, &headers);
    let now = Instant::now();
    let number = form.order_number.as_deref().and_then(order_number).map(str::to_string);
    let factors = Factors::from_form(form.email.as_deref(), form.postal_code.as_deref());
    // Spent before the store is read, so concurrent guesses cannot all pass.
    if let Err(wait) = t.try_spend(client, number.as_deref().filter(|_| factors.is_some()), now) {
        return rate_limited(&api, lang, wait);
    }
    let (Some(number), Some(factors)) = (number, factors) else {
        reject(&api, "incomplete");
        return not_found(&api, lang);
    };
    let store = api.store.clone();
    let n = number.clone();
    let found = blocking(move || {
        let order = load::order(&store, &n)?;
        // The same comparison whether or not the order exists.
        let customer = order.as_ref().map(|o| o.customer.clone()).unwrap_or_default();
        let matched = factors.match_customer(&customer);
        match (order, matched) {
            (Some(_), true) => Ok(Ok(load::order_data(&store, &n)?)),
            (Some(_), false) => Ok(Err("wrong_factor")),
            (None, _) => Ok(Err("unknown_order")),
        }
    })
    .await;
    match found {
        Ok(Ok(Some(data))) => {
            t.refund(client, Some(&number), now);
            // The URL's language, else the form's (the page it was filled on).
            let url_lang = query_lang(query.as_deref()).or(form.lang.as_deref());
            order_response(&api, &data, url_lang, None, &headers)
        }
        Ok(Ok(None)) => {
            // Removed between the two reads.
            reject(&api, "unknown_order");
            not_found(&api, lang)
        }
        Ok(Err(reason)) => {
            reject(&api, reason);
            not_found(&api, lang)
        }
        Err(_) => {
            t.refund(client, Some(&number), now);
            unavailable(&api, lang)
        }
    }
}

fn unavailable(api: &ApiState, lang: Lang) -> Response {
    let mut r = not_found(api, lang);
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

/// `GET /track/{token}`: a signed link.
async fn by_link(
    State(api): State<Arc<ApiState>>,
    Client(client): Client,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let t = &api.tracking;
    let lang = anonymous_lang(t, query_lang(query.as_deref()), &headers);
    // Verified first: a valid link is never limited, only failures are.
    let claims = match super::verify(t.keys(), &token, chrono::Utc::now().timestamp()) {
        Ok(c) => c,
        Err(refusal) => {
            if let Err(wait) = t.try_spend(client, None, Instant::now()) {
                return rate_limited(&api, lang, wait);
            }
            reject(&api, refusal.reason());
            return not_found(&api, lang);
        }
    };
    let store = api.store.clone();
    let number = claims.order_number.clone();
    match blocking(move || Ok(load::order_data(&store, &number)?)).await {
        Ok(Some(data)) => order_response(&api, &data, query_lang(query.as_deref()), claims.lang, &headers),
        Ok(None) => {
            reject(&api, "link_unknown_order");
            not_found(&api, lang)
        }
        Err(_) => unavailable(&api, lang),
    }
}

/// `POST /track/number`: a tracking number alone; the carrier's progress only.
async fn by_number(
    State(api): State<Arc<ApiState>>,
    Client(client): Client,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    form: Result<Form<LookupForm>, FormRejection>,
) -> Response {
    let t = &api.tracking;
    let form = form.map(|f| f.0).unwrap_or_default();
    let lang = posted_lang(t, query.as_deref(), &form, &headers);
    let now = Instant::now();
    if let Err(wait) = t.try_spend(client, None, now) {
        return rate_limited(&api, lang, wait);
    }
    let Some(number) = form
        .tracking_number
        .as_deref()
        .and_then(order_number)
        .map(str::to_string)
    else {
        reject(&api, "incomplete");
        return not_found(&api, lang);
    };
    let store = api.store.clone();
    let n = number.clone();
    match blocking(move || Ok(store.carrier_events_of_tracking(&n)?)).await {
        Ok(events) if !events.is_empty() => {
            t.refund(client, None, now);
            let page = number_page(&number, &events, chrono::Utc::now().timestamp_millis(), lang);
            render(&api, StatusCode::OK, NUMBER, lang, &t.settings.default_brand, &page)
        }
        Ok(_) => {
            reject(&api, "unknown_tracking_number");
            not_found(&api, lang)
        }
        Err(_) => {
            t.refund(client, None, now);
            unavailable(&api, lang)
        }
    }
}

/// `GET /track/static/style.css`.
async fn stylesheet(State(api): State<Arc<ApiState>>) -> Response {
    css(api.tracking.settings.templates.stylesheet().to_string())
}

/// `GET /track/static/theme/{rrggbb}.css`: a brand color's readable theme.
async fn theme(Path(file): Path<String>) -> Response {
    let color = file.strip_suffix(".css").and_then(|hex| Rgb::parse(&format!("#{hex}")));
    match color {
        Some(c) => css(Theme::of(c).css()),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn css(body: String) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}
