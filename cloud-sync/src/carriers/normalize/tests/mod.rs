mod aftership;
mod aggregators_support;
mod easypost;
mod fedex;
mod karrio;
mod shippo;
mod ups;
