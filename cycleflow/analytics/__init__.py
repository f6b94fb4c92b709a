"""analytics stage of the cycleflow data flow."""
