mod aftership;
mod aggregators_support;
mod easypost;
mod fedex;
mod karrio;
mod seventeen_track;
mod shippo;
mod ups;
