mod aftership;
mod aggregators_support;
mod easypost;
mod shippo;
