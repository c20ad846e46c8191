// Command tdsc-chaincode runs the tdsc contract as a Fabric chaincode
// service: the peer dials it (an external "ccaas" builder), no Docker.
//
//	CHAINCODE_ID=<package id> CHAINCODE_SERVER_ADDRESS=127.0.0.1:19999 tdsc-chaincode
//
// TDSC_CC_LOCAL_POLICY names this organisation's local policy file
// (chaincode.LocalPolicy JSON, reread when it changes); TDSC_CC_LOG=1 logs
// every Append; TDSC_CC_PPROF=127.0.0.1:port serves net/http/pprof.
//
// Unless GOGC is set, the service collects garbage at 400 % heap growth
// instead of Go's 100 %: an Append allocates its batches' decoded records and
// encodings and drops them all when it returns, so the live heap stays a few
// megabytes while collections at the default took about a fifth of the
// service's CPU, which the peers on the same machine need. Unless GOMEMLIMIT
// is set (or AUTOMEMLIMIT=off), the heap is held softly under 90 % of the
// container's memory limit or half of the machine's memory
// (internal/gctune), so the headroom never costs a container its memory.
package main

import (
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"github.com/tdsc/tdsc/chaincode"
	"github.com/tdsc/tdsc/internal/gctune"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if _, err := gctune.ForHeavyHeap(); err != nil {
		log.Error("tdsc-chaincode", "err", err)
		os.Exit(1)
	}
	if err := run(log); err != nil {
		log.Error("tdsc-chaincode", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	id, addr := os.Getenv("CHAINCODE_ID"), os.Getenv("CHAINCODE_SERVER_ADDRESS")
	if id == "" || addr == "" {
		return fmt.Errorf("set CHAINCODE_ID (the installed package id) and CHAINCODE_SERVER_ADDRESS (host:port to listen on)")
	}
	quiet := log
	if os.Getenv("TDSC_CC_LOG") == "" {
		quiet = nil
	}
	c := chaincode.New(quiet)
	if path := os.Getenv("TDSC_CC_LOCAL_POLICY"); path != "" {
		c.Local = chaincode.LocalPolicyFile(path)
	}
	cc, err := contractapi.NewChaincode(c)
	if err != nil {
		return err
	}
	if addr := os.Getenv("TDSC_CC_PPROF"); addr != "" {
		go func() { log.Info("pprof", "err", http.ListenAndServe(addr, nil)) }()
	}
	srv := &shim.ChaincodeServer{CCID: id, Address: addr, CC: cc, TLSProps: shim.TLSProperties{Disabled: true}}
	log.Info("chaincode service listening", "id", id, "addr", addr)
	return srv.Start()
}
