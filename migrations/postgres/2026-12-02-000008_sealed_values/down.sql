DROP TABLE sealed_values;
