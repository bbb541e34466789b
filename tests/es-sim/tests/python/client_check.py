"""Drives es-sim with Elastic's official Python client (product check included).

Usage: python3 client_check.py URL
Exits non-zero (with a traceback) on the first disagreement.
"""
import sys

from elasticsearch import ApiError, AuthenticationException, ConflictError, Elasticsearch, NotFoundError, helpers

url = sys.argv[1]
# The connectors service sends this header on every request (needed for 9.x system indices).
es = Elasticsearch(url, basic_auth=("elastic", "changeme"), headers={"X-elastic-product-origin": "connectors"})

info = es.info()  # the client refuses a server without `X-Elastic-Product: Elasticsearch`
assert info["version"]["number"].startswith("9."), info
assert info["tagline"] == "You Know, for Search"
assert es.license.get()["license"]["status"] == "active"
assert es.security.authenticate()["username"] == "elastic"

try:
    Elasticsearch(url).info()
    raise AssertionError("anonymous request accepted")
except AuthenticationException as e:
    assert e.meta.status == 401

key = es.security.create_api_key(name="py-key")
assert Elasticsearch(url, api_key=key["encoded"]).info()["cluster_name"]

es.indices.create(index="py", mappings={"properties": {"id": {"type": "keyword"}, "n": {"type": "long"}}})
assert es.indices.exists(index="py")
assert not es.indices.exists(index="nope")
assert es.indices.get_mapping(index="py")["py"]["mappings"]["properties"]["n"]["type"] == "long"

ok, errors = helpers.bulk(es, ({"_index": "py", "_id": str(i), "id": str(i), "n": i, "title": f"song {i}"} for i in range(250)))
assert ok == 250 and not errors, (ok, errors)
assert es.count(index="py")["count"] == 0, "not searchable before refresh"
es.indices.refresh(index="py")
assert es.count(index="py")["count"] == 250

res = es.search(index="py", query={"range": {"n": {"gte": 240}}}, sort=[{"n": "desc"}], size=3, seq_no_primary_term=True)
assert res["hits"]["total"]["value"] == 10
assert [h["_id"] for h in res["hits"]["hits"]] == ["249", "248", "247"]
assert res["hits"]["hits"][0]["_primary_term"] == 1

scanned = list(helpers.scan(es, index="py", query={"query": {"match_all": {}}}, size=40, _source=["id"]))
assert len(scanned) == 250 and set(scanned[0]["_source"]) == {"id"}

pit = es.open_point_in_time(index="py", keep_alive="1m")["id"]
seen, after = 0, None
while True:
    kw = {"search_after": after} if after else {}
    page = es.search(pit={"id": pit, "keep_alive": "1m"}, sort=[{"_shard_doc": "asc"}], size=100, **kw)
    hits = page["hits"]["hits"]
    if not hits:
        break
    seen += len(hits)
    after = hits[-1]["sort"]
assert seen == 250, seen
assert es.close_point_in_time(id=pit)["succeeded"]

doc = es.get(index="py", id="1")
es.update(index="py", id="1", doc={"extra": True}, if_seq_no=doc["_seq_no"], if_primary_term=doc["_primary_term"])
try:
    es.update(index="py", id="1", doc={"extra": False}, if_seq_no=doc["_seq_no"], if_primary_term=doc["_primary_term"])
    raise AssertionError("stale update accepted")
except ConflictError as e:
    assert e.meta.status == 409 and e.error == "version_conflict_engine_exception"
try:
    es.get(index="py", id="missing")
    raise AssertionError("missing doc found")
except NotFoundError:
    pass
try:
    es.search(index="py", from_=9_999, size=2)
    raise AssertionError("result window not enforced")
except ApiError as e:
    assert e.meta.status == 400

deleted = es.delete_by_query(index="py", query={"bool": {"must_not": {"term": {"id": "1"}}}}, refresh=True)
assert deleted["deleted"] == 249, deleted
assert es.count(index="py")["count"] == 1

assert "search-default-ingestion" in es.ingest.get_pipeline(id="search-default-ingestion")
assert any(r["index"] == "py" for r in es.cat.indices(format="json"))

# Connector API through the client's namespaced methods.
r = es.connector.put(connector_id="py-c", name="Music", index_name="music", service_type="postgresql")
assert r["result"] == "created"
c = es.connector.get(connector_id="py-c")
assert c["status"] == "created" and c["filtering"][0]["domain"] == "DEFAULT"
assert es.connector.list()["count"] == 1
es.connector.check_in(connector_id="py-c")
es.connector.update_configuration(connector_id="py-c", configuration={"host": {"label": "Host", "value": ""}})
es.connector.update_configuration(connector_id="py-c", values={"host": "db"})
assert es.connector.get(connector_id="py-c")["configuration"]["host"]["value"] == "db"
try:
    es.connector.update_status(connector_id="py-c", status="created")
    raise AssertionError("invalid transition accepted")
except ApiError as e:
    assert e.meta.status == 400
job = es.connector.sync_job_post(id="py-c", job_type="full")["id"]
assert es.connector.sync_job_get(connector_sync_job_id=job)["status"] == "pending"
es.connector.sync_job_claim(connector_sync_job_id=job, worker_hostname="py")
es.connector.sync_job_update_stats(connector_sync_job_id=job, deleted_document_count=0, indexed_document_count=1, indexed_document_volume=0)
assert es.connector.sync_job_list(connector_id="py-c")["results"][0]["indexed_document_count"] == 1
es.connector.delete(connector_id="py-c")
try:
    es.connector.get(connector_id="py-c")
    raise AssertionError("soft-deleted connector visible")
except NotFoundError:
    pass

print("python client check: OK")
