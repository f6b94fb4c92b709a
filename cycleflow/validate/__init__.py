"""validate stage of the cycleflow data flow."""
