"""cli stage of the cycleflow data flow."""
