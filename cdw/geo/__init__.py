"""The geo floor: projection, spatial indexes, the one GeoJSON parser for fences and routes,
and the grid/segment/polygon kernels. It imports no domain (only ``cdw.errors``)."""
