"""audit stage of the cycleflow data flow."""
