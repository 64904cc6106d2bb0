package main

import (
	"context"
	"encoding/xml"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The tests in this file generate a client from the WSDL the gateway
// serves with an integrator's own toolchain, compile it with a small
// program of ours (testdata/interop/...), and run it against the test
// gateway: a read, a write, a resend of a write with the same MessageID
// (the stored answer, nothing changed) and a fault with its detail. Each
// client fails the test when a call fails or answers wrongly. The
// toolchains are Debian packages that `make test-deps` installs; without
// one a test is skipped, or fails under CI=true.

// requireToolchain skips the test (fails it under CI=true) unless every
// command and file is there, naming the Debian packages that provide them.
func requireToolchain(t *testing.T, packages string, commands []string, files ...string) {
	t.Helper()
	missing := ""
	for _, c := range commands {
		if _, err := exec.LookPath(c); err != nil {
			missing = c
		}
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			missing = f
		}
	}
	if missing == "" {
		return
	}
	msg := missing + " is missing: apt-get install " + packages + " (make test-deps installs it)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// step runs one command of an interop test in dir and returns its combined
// output; it fails the test with that output when the command fails, and
// logs how long the command took.
func step(ctx context.Context, t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	start := time.Now()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	t.Logf("%s %s: %v", filepath.Base(name), strings.Join(shortArgs(args), " "), time.Since(start).Round(10*time.Millisecond))
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// shortArgs is args for a log line: long lists of source files are counted.
func shortArgs(args []string) []string {
	if len(args) <= 8 {
		return args
	}
	return append(args[:6:6], fmt.Sprintf("... (%d more)", len(args)-6))
}

// sources returns the files under dir ending in ext.
func sources(t *testing.T, dir, ext string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ext) {
			files = append(files, path)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s files under %s: %v", ext, dir, err)
	}
	return files
}

// requireOK fails the test unless a client's output ends in its "ok: "
// line, and logs that line.
func requireOK(t *testing.T, client, out string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "ok: ") {
		t.Fatalf("%s did not finish:\n%s", client, out)
	}
	t.Logf("%s: %s", client, lines[len(lines)-1])
}

func testdataPath(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "interop", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// jaxwsRuntime is Debian's JAX-WS RI runtime; its manifest names the rest
// of the runtime's jars.
const jaxwsRuntime = "/usr/share/java/jaxws-rt.jar"

// TestInteropJAXWS: wsimport (JAX-WS RI, Debian jaxws) generates a client
// from ?wsdl, with -extension for the SOAP 1.2 port, and
// testdata/interop/jaxws/Client.java calls the gateway through it on both
// ports.
func TestInteropJAXWS(t *testing.T) {
	e := requireEnv(t)
	requireToolchain(t, "default-jdk-headless jaxws", []string{"wsimport", "javac", "java"}, jaxwsRuntime)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "gen"), 0o755); err != nil {
		t.Fatal(err)
	}
	step(ctx, t, dir, "wsimport", "-quiet", "-extension", "-Xnocompile", "-s", "gen", "-d", "gen", "-p", "medcard.jaxws", e.endpoint+"?wsdl")
	step(ctx, t, dir, "javac", append([]string{"-nowarn", "-encoding", "UTF-8", "-cp", jaxwsRuntime, "-d", "classes",
		testdataPath(t, "jaxws/Client.java")}, sources(t, filepath.Join(dir, "gen"), ".java")...)...)
	for _, port := range []string{"soap11", "soap12"} {
		t.Run(port, func(t *testing.T) {
			out := step(ctx, t, dir, "java", "-cp", "classes:"+jaxwsRuntime, "Client", e.endpoint+"?wsdl", port, freshPerson(t))
			requireOK(t, "the JAX-WS client", out)
		})
	}
}

// axisClasspath is Debian's Axis 1.4 (libaxis-java) with what it needs.
var axisClasspath = []string{"/usr/share/java/axis.jar", "/usr/share/java/axis-jaxrpc.jar", "/usr/share/java/axis-saaj.jar",
	"/usr/share/java/wsdl4j.jar", "/usr/share/java/commons-discovery.jar", "/usr/share/java/commons-logging.jar"}

// TestInteropAxis: Apache Axis 1.4's WSDL2Java (Debian libaxis-java)
// generates a client from the SOAP-1.1 view, ?wsdl&soap=1.1 (it refuses the
// whole WSDL's SOAP 1.2 binding), and testdata/interop/axis/Client.java
// calls the gateway through it.
func TestInteropAxis(t *testing.T) {
	e := requireEnv(t)
	requireToolchain(t, "default-jdk-headless libaxis-java", []string{"javac", "java"}, axisClasspath...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cp := strings.Join(axisClasspath, ":")
	step(ctx, t, dir, "java", "-cp", cp, "org.apache.axis.wsdl.WSDL2Java", "-o", "gen", "-p", "medcard.axis", e.endpoint+"?wsdl&soap=1.1")
	step(ctx, t, dir, "javac", append([]string{"-nowarn", "-encoding", "UTF-8", "-cp", cp, "-d", "classes",
		testdataPath(t, "axis/Client.java")}, sources(t, filepath.Join(dir, "gen"), ".java")...)...)
	out := step(ctx, t, dir, "java", "-Duser.timezone=UTC", "-cp", "classes:"+cp, "Client", freshPerson(t))
	requireOK(t, "the Axis 1.4 client", out)
}

// TestInteropPHP: PHP's SoapClient (Debian php-cli, php-soap) in WSDL mode
// on ?wsdl, testdata/interop/php/client.php, in SOAP 1.1 and 1.2.
func TestInteropPHP(t *testing.T) {
	e := requireEnv(t)
	requireToolchain(t, "php-cli php-soap", []string{"php"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "php", "-r", `exit(extension_loaded("soap") ? 0 : 1);`).CombinedOutput(); err != nil {
		msg := "PHP's soap extension is missing: apt-get install php-soap (make test-deps installs it): " + string(out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	for _, version := range []string{"1.1", "1.2"} {
		t.Run("soap"+strings.ReplaceAll(version, ".", ""), func(t *testing.T) {
			out := step(ctx, t, t.TempDir(), "php", testdataPath(t, "php/client.php"), e.endpoint+"?wsdl", version, freshPerson(t))
			requireOK(t, "the PHP client", out)
		})
	}
}

// TestInteropMono: Mono's wsdl (Debian mono-devel; the .NET importer of
// ASP.NET web service proxies) imports ?wsdl without error or warning
// beyond the policy it does not read, mcs compiles
// testdata/interop/mono/Client.cs against the proxy, and it calls the
// gateway in SOAP 1.1 and 1.2. From ?singleWsdl, the view .NET developers
// fetch, wsdl writes the same proxy.
func TestInteropMono(t *testing.T) {
	e := requireEnv(t)
	requireToolchain(t, "mono-devel", []string{"wsdl", "mcs", "mono"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	for _, view := range []struct{ query, file string }{{"?wsdl", "MedicineCard.cs"}, {"?singleWsdl", "MedicineCardSingle.cs"}} {
		out := step(ctx, t, dir, "wsdl", "-nologo", "-out:"+view.file, "-n:MedCard", e.endpoint+view.query)
		for _, line := range strings.Split(out, "\n") {
			line = strings.TrimSpace(line)
			// Mono's wsdl reads no WS-Policy: it names the policy an
			// ignored optional extension, and that is all it may say.
			if strings.Contains(line, "Error") || strings.HasPrefix(line, "- ") && !strings.Contains(line, "optional extension has been ignored") {
				t.Errorf("wsdl %s reported: %s\n%s", view.query, line, out)
			}
		}
	}
	if whole, single := readFile(t, filepath.Join(dir, "MedicineCard.cs")), readFile(t, filepath.Join(dir, "MedicineCardSingle.cs")); whole != single {
		t.Errorf("wsdl writes another proxy from ?singleWsdl than from ?wsdl:\n%s", single)
	}
	step(ctx, t, dir, "mcs", "-nologo", "-out:client.exe", "-r:System.Web.Services", "MedicineCard.cs", testdataPath(t, "mono/Client.cs"))
	for _, version := range []string{"1.1", "1.2"} {
		t.Run("soap"+strings.ReplaceAll(version, ".", ""), func(t *testing.T) {
			out := step(ctx, t, dir, "mono", "client.exe", version, freshPerson(t))
			requireOK(t, "the Mono client", out)
		})
	}
}

// TestInteropMonoSvcutil: Mono's svcutil (Debian mono-devel; the importer
// of WCF service contracts) imports ?singleWsdl, the view .NET developers
// fetch: the contract it writes has a method for every operation of the
// served port type, and a client class. (It imports no operation from
// ?wsdl, whose request messages have a part per header, and says nothing:
// it writes an empty file.)
//
// The proxy is not compiled nor called: Mono's importer pairs operations
// with the wrong messages (its DataContractSerializer message importer
// skips the operations it cannot take without moving on in the contract's
// list, so GetMedicineCard gets GetPrescription's request and answer), the
// proxy does not compile (mcs: 42 "type or namespace name could not be
// found", types the contract names and the importer did not write), and it
// reads no soap:header. A Mono client uses Mono's wsdl instead
// (TestInteropMono); WCF's own svcutil has no such faults.
func TestInteropMonoSvcutil(t *testing.T) {
	e := requireEnv(t)
	requireToolchain(t, "mono-devel", []string{"svcutil"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	url := e.endpoint + "?singleWsdl"
	out := step(ctx, t, dir, "svcutil", "--noLogo", "--noConfig", "-o", "MedicineCard.cs", url)
	proxy := readFile(t, filepath.Join(dir, "MedicineCard.cs"))
	contract := regexp.MustCompile(`(?s)\n(?:public )?interface MedicineCardPortType \{\n(.*?)\n\}`).FindStringSubmatch(proxy)
	if contract == nil || !strings.Contains(proxy, "class MedicineCardPortTypeClient ") {
		t.Fatalf("svcutil wrote no service contract MedicineCardPortType and client class from %s:\n%s\n%s", url, out, proxy)
	}
	var methods []string
	for _, m := range regexp.MustCompile(`OperationContractAttribute\([^\n]*\)\]\s+[\w.]+ (\w+)\(`).FindAllStringSubmatch(contract[1], -1) {
		methods = append(methods, m[1])
	}
	if want := portTypeOperations(t, url); strings.Join(methods, " ") != strings.Join(want, " ") {
		t.Errorf("svcutil's contract has the operations %q, want the WSDL's %q", methods, want)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// portTypeOperations returns the names of the operations of the port type
// in the WSDL at url.
func portTypeOperations(t *testing.T, url string) []string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var defs struct {
		Operations []struct {
			Name string `xml:"name,attr"`
		} `xml:"portType>operation"`
	}
	if err := xml.NewDecoder(resp.Body).Decode(&defs); err != nil {
		t.Fatalf("WSDL at %s does not parse: %v", url, err)
	}
	var names []string
	for _, op := range defs.Operations {
		names = append(names, op.Name)
	}
	if len(names) == 0 {
		t.Fatalf("the WSDL at %s has no operations", url)
	}
	return names
}
