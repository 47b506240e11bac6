DROP TABLE top_up_references;
