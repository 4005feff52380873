pub mod obr;
