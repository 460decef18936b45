"""PostGIS store: round trip of every layer, and clear errors for bad databases."""

from __future__ import annotations

import geopandas as gpd
import pytest
import sqlalchemy as sa

from layers.postgis import connect
from twin import City
from twin.database import read_city_layers, write_city_layers
from twin.errors import DatabaseError

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def pg_city(city: City, postgis_url: str) -> City:
    write_city_layers(postgis_url, city.name, city.layers, schema="roundtrip")
    return City.from_postgis(postgis_url, schema="roundtrip")


def test_round_trip_every_layer(city: City, pg_city: City) -> None:
    assert pg_city.name == city.name
    assert list(pg_city.layers) == list(city.layers)
    for name in city.layers:
        a, b = city.layers[name].data, pg_city.layers[name].data
        assert len(a) == len(b), name
        assert list(a.index) == list(b.index), name
        assert set(a.columns) == set(b.columns), name
        geoms = a.geometry.notna()
        if geoms.any():
            assert a.geometry[geoms].geom_equals_exact(b.geometry[geoms], 1e-9).all(), name
        assert city.layers[name].info.to_dict() == pg_city.layers[name].info.to_dict()


def test_graph_from_postgis_matches(city: City, pg_city: City) -> None:
    assert pg_city.graph.number_of_edges() == city.graph.number_of_edges()


def test_spatial_indexes_exist(postgis_url: str, pg_city: City) -> None:
    engine = connect(postgis_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT tablename FROM pg_indexes WHERE schemaname = 'roundtrip' "
            "AND indexdef ILIKE '%gist%'")).scalars().all()
    engine.dispose()
    assert {"roads", "pois", "homes"} <= set(rows)


def test_query_layers_with_sql(postgis_url: str, pg_city: City) -> None:
    engine = connect(postgis_url)
    gdf = gpd.read_postgis(
        "SELECT * FROM roundtrip.roads WHERE ST_Intersects(geometry, "
        "ST_MakeEnvelope(121.47, 31.225, 121.48, 31.235, 4326))", engine, geom_col="geometry")
    engine.dispose()
    assert 0 < len(gdf) < len(pg_city.layers["roads"].data)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "bad database URL"),
        ("mysql://u@localhost/db", "not a PostgreSQL URL"),
        ("postgresql://postgres@127.0.0.1:1/twin", "cannot reach PostGIS"),
    ],
)
def test_bad_databases_give_one_clear_error(url: str, message: str) -> None:
    with pytest.raises(DatabaseError, match=message):
        read_city_layers(url)


def test_missing_postgis_extension(postgis_url: str) -> None:
    admin = connect(postgis_url)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS no_postgis"))
        conn.execute(sa.text("CREATE DATABASE no_postgis"))
    admin.dispose()
    url = postgis_url.rsplit("/", 1)[0] + "/no_postgis"
    with pytest.raises(DatabaseError, match="postgis"):
        read_city_layers(url)


def test_empty_schema_is_a_clear_error(postgis_url: str) -> None:
    with pytest.raises(DatabaseError, match="no twin layers"):
        read_city_layers(postgis_url, schema="nothing_here")
