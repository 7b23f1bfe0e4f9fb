package kafka

import (
	"testing"

	"github.com/netobserver/netobserver/parser/internal/parsertest"
	"github.com/stretchr/testify/assert"
)

// captureCases are the captures of testdata/ (kcat and franz-go's kgo against kfake, see
// testdata/README.md) and what replaying each gives. franz-go opens a connection per purpose:
// metadata, producing, fetching, the group coordinator; kcat one per broker.
var captureCases = []parsertest.CaptureCase{
	{Name: "kcat_producer_0", Lines: []string{
		"> ApiVersions v3 id=1 size=40",
		"< ApiVersions id=1 err=0 ok=true size=233",
		"> Metadata v4 id=2 size=39",
		"< Metadata id=2 err=0 ok=true size=98",
		"> Produce v7 id=3 topic=\"orders-?\" size=139",
		"< Produce id=3 err=2 ok=false size=63",
	}},
	{Name: "kcat_consumer_0", Lines: []string{
		"> ApiVersions v3 id=1 size=40",
		"< ApiVersions id=1 err=0 ok=true size=233",
		"> Metadata v4 id=2 size=39",
		"< Metadata id=2 err=0 ok=true size=98",
		"> Metadata v4 id=3 size=39",
		"< Metadata id=3 err=0 ok=true size=98",
		"> ListOffsets v2 id=4 size=59",
		"< ListOffsets id=4 err=0 ok=true size=55",
		"> Fetch v11 id=5 topic=\"orders-?\" size=101",
		"< Fetch id=5 err=0 ok=true size=296",
		"> Fetch v11 id=6 topic=\"orders-?\" size=101",
	}},
	{Name: "kgo_group_0", Lines: []string{
		"> ApiVersions v4 id=0 size=31",
		"< ApiVersions id=0 err=0 ok=true size=233",
		"> Metadata v13 id=1 size=51",
		"< Metadata id=1 err=0 ok=true size=111",
	}},
	{Name: "kgo_group_1", Lines: []string{
		"> ApiVersions v4 id=0 size=31",
		"< ApiVersions id=0 err=0 ok=true size=233",
		"> FindCoordinator v6 id=1 size=29",
		"< FindCoordinator id=1 err=0 ok=true size=45",
		"> OffsetFetch v9 id=2 size=90",
		"< OffsetFetch id=2 err=- ok=true size=61",
		"> ListOffsets v10 id=3 size=60",
		"< ListOffsets id=3 err=0 ok=true size=56",
		"> OffsetCommit v9 id=4 size=138",
		"< OffsetCommit id=4 err=0 ok=true size=36",
		"> LeaveGroup v5 id=5 size=109",
		"< LeaveGroup id=5 err=0 ok=true size=58",
	}},
	{Name: "kgo_group_2", Lines: []string{
		"> JoinGroup v9 id=0 size=145",
		"< JoinGroup id=0 err=79 ok=false size=62",
		"> JoinGroup v9 id=1 size=181",
		"< JoinGroup id=1 err=0 ok=true size=201",
		"> SyncGroup v5 id=2 size=168",
		"< SyncGroup id=2 err=0 ok=true size=76",
	}},
	{Name: "kgo_group_3", Lines: []string{
		"> Fetch v18 id=0 topic=\"J4C70wC9dqUmnW68u_qOkA\" size=94",
		"< Fetch id=0 err=0 ok=true size=302",
		"> Fetch v18 id=1 topic=\"J4C70wC9dqUmnW68u_qOkA\" size=94",
	}},
	{Name: "kgo_noack_0", Lines: []string{
		"> ApiVersions v4 id=0 size=31",
		"< ApiVersions id=0 err=0 ok=true size=233",
		"> Metadata v13 id=1 size=45",
		"< Metadata id=1 err=0 ok=true size=105",
	}},
	{Name: "kgo_noack_1", Lines: []string{
		"> ApiVersions v4 id=0 size=31",
		"< ApiVersions id=0 err=0 ok=true size=233",
		"> Produce v13 id=1 topic=\"kmaeNGo9Mh_K_b_b4hdPLA\" one-way size=126",
		"> Produce v13 id=2 topic=\"kmaeNGo9Mh_K_b_b4hdPLA\" one-way size=126",
	}},
	{Name: "kgo_producer_0", Lines: []string{
		"> ApiVersions v4 id=0 size=31",
		"< ApiVersions id=0 err=0 ok=true size=233",
		"> Metadata v13 id=1 size=51",
		"< Metadata id=1 err=0 ok=true size=111",
	}},
	{Name: "kgo_producer_1", Lines: []string{
		"> ApiVersions v4 id=0 size=31",
		"< ApiVersions id=0 err=0 ok=true size=233",
		"> InitProducerID v4 id=1 size=34",
		"< InitProducerID id=1 err=0 ok=true size=26",
	}},
	{Name: "kgo_producer_2", Lines: []string{
		"> Produce v13 id=0 topic=\"J4C70wC9dqUmnW68u_qOkA\" size=126",
		"< Produce id=0 err=0 ok=true size=66",
		"> Produce v13 id=1 topic=\"J4C70wC9dqUmnW68u_qOkA\" size=126",
		"< Produce id=1 err=0 ok=true size=66",
		"> Produce v13 id=2 topic=\"J4C70wC9dqUmnW68u_qOkA\" size=126",
		"< Produce id=2 err=0 ok=true size=66",
	}},
}

func TestCaptures(t *testing.T) {
	parsertest.CheckCaptures(t, "testdata", newDriver, captureCases, func(t *testing.T, d *parsertest.Driver[Message]) {
		// No request is forgotten: every response found its request.
		assert.Zero(t, d.Conn.(*Conn).Forgotten)
	})
}
