// Command service is goinspect's bundled demo: a small HTTP service with one
// real leak and two allocation patterns that only look like leaks.
//
//   - sessions: every /login stores a session that is never evicted (a leak).
//   - recent:   a bounded cache of the last 512 requests (grows, then plateaus).
//   - /render:  builds and discards a large buffer per request (churn).
//
// It listens on loopback only and prints "LISTEN 127.0.0.1:PORT" first.
package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"strconv"
	"strings"
	"sync"
)

type session struct {
	user    string
	token   [32]byte
	history []string
}

var (
	mu       sync.Mutex
	sessions = map[string]*session{} // leak: nothing ever deletes from it
	recent   = map[int]string{}      // bounded: evicted past recentMax
	recentN  int
	rendered int
)

const recentMax = 512

func login(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user")
	mu.Lock()
	defer mu.Unlock()
	s := &session{user: user}
	for i := range s.token {
		s.token[i] = byte(len(sessions) + i)
	}
	s.history = append(s.history, "login "+user)
	sessions["sess-"+user] = s
	remember(r.URL.Path + "?" + r.URL.RawQuery)
	fmt.Fprintf(w, "%d sessions\n", len(sessions))
}

// remember keeps the last recentMax requests: a map that grows, then stays flat.
func remember(line string) {
	recent[recentN] = line
	delete(recent, recentN-recentMax)
	recentN++
}

// render allocates a page-sized buffer per request and drops it: churn.
func render(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("rows"))
	var page []string
	for i := 0; i < n; i++ {
		page = append(page, strings.Repeat("x", 64))
	}
	mu.Lock()
	rendered++
	remember(r.URL.Path)
	mu.Unlock()
	fmt.Fprintf(w, "%d rows\n", len(page))
}

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	http.HandleFunc("/login", login)
	http.HandleFunc("/render", render)
	fmt.Printf("LISTEN %s\n", ln.Addr())
	// Exit when the parent goes away, so a demo never leaves a service behind.
	go func() {
		bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(0)
	}()
	if err := http.Serve(ln, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
