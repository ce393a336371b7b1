"""ModelArts backend: a Huawei Cloud ModelArts training job."""
