"""batch stage of the cycleflow data flow."""
