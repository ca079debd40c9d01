mod aftership;
mod aggregators_support;
mod easypost;
mod fedex;
mod shippo;
mod ups;
