// A golang/groupcache peer for geecache's interop test (test/interop.test.ts): the real
// HTTPPool with default options (basePath /_groupcache/, 50 replicas, crc32) registered on
// http.DefaultServeMux as a Go app would, a group "scores" whose getter returns "value:"+key
// and counts its loads, and a few routes for the test on the same server:
//
//	GET /get?key=K    the group's value of K (group.Get: cache, owner peer, or getter)
//	GET /loads        JSON {key: number of getter runs}
//	GET /owner?key=K  the peer that owns K on a consistenthash.New(50, nil) of the same peers
//	POST /owners      JSON [key, ...] in, JSON [owner, ...] out, from the same ring
//	GET /stats        JSON of the group's Stats
//
// With -value-bytes N (the bench's peer-serve row) the getter returns N bytes of the key repeated
// instead, as the bench's node servers do (Buffer.alloc(N, key)).
//
// Prints "ready <port>" once it listens. Built offline from Debian's packages:
// GO111MODULE=off GOPATH=<dir>:/usr/share/gocode go build.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/consistenthash"
)

func main() {
	self := flag.String("self", "", "this peer's base URL, e.g. http://127.0.0.1:8001")
	peersFlag := flag.String("peers", "", "comma-separated base URLs of every peer, self included")
	port := flag.Int("port", 0, "port to listen on, on 127.0.0.1")
	valueBytes := flag.Int("value-bytes", 0, "if > 0: values are this many bytes of the key repeated, not \"value:\"+key")
	flag.Parse()
	if *self == "" || *peersFlag == "" {
		fmt.Fprintln(os.Stderr, "usage: peer -self URL -peers URL,URL,... -port N")
		os.Exit(2)
	}
	peers := strings.Split(*peersFlag, ",")

	pool := groupcache.NewHTTPPool(*self) // registers itself at /_groupcache/ on http.DefaultServeMux
	pool.Set(peers...)
	ring := consistenthash.New(50, nil) // what pool.PickPeer consults, rebuilt the same way
	ring.Add(peers...)

	var mu sync.Mutex
	loads := map[string]int{}
	group := groupcache.NewGroup("scores", 1<<20, groupcache.GetterFunc(
		func(_ context.Context, key string, dest groupcache.Sink) error {
			mu.Lock()
			loads[key]++
			mu.Unlock()
			if *valueBytes > 0 {
				return dest.SetBytes(repeatTo(key, *valueBytes))
			}
			return dest.SetString("value:" + key)
		}))

	http.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		var value string
		if err := group.Get(r.Context(), r.URL.Query().Get("key"), groupcache.StringSink(&value)); err != nil {
			http.Error(w, "error: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, value)
	})
	http.HandleFunc("/loads", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		writeJSON(w, loads)
	})
	http.HandleFunc("/owner", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, ring.Get(r.URL.Query().Get("key")))
	})
	http.HandleFunc("/owners", func(w http.ResponseWriter, r *http.Request) {
		var keys []string
		if err := json.NewDecoder(r.Body).Decode(&keys); err != nil {
			http.Error(w, "body must be a JSON array of keys: "+err.Error(), http.StatusBadRequest)
			return
		}
		owners := make([]string, len(keys))
		for i, key := range keys {
			owners[i] = ring.Get(key)
		}
		writeJSON(w, owners)
	})
	http.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		s := &group.Stats
		writeJSON(w, map[string]int64{
			"gets": s.Gets.Get(), "cacheHits": s.CacheHits.Get(), "peerLoads": s.PeerLoads.Get(),
			"peerErrors": s.PeerErrors.Get(), "loads": s.Loads.Get(), "localLoads": s.LocalLoads.Get(),
			"serverRequests": s.ServerRequests.Get(),
		})
	})

	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("ready %d\n", ln.Addr().(*net.TCPAddr).Port)
	log.Fatal(http.Serve(ln, nil))
}

func writeJSON(w http.ResponseWriter, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// repeatTo is `key` repeated and cut to n bytes (Node's Buffer.alloc(n, key)); "-" for an empty key.
func repeatTo(key string, n int) []byte {
	if key == "" {
		key = "-"
	}
	out := make([]byte, n)
	for i := 0; i < n; i += copy(out[i:], key) {
	}
	return out
}
