#!/usr/bin/env bash
# Compiles the Java example and its test against Debian's jars (no Maven) into
# ./build and runs the test against PGHOST/PGPORT/PGUSER. Output is TAP ending in
# "# pass N" and "# fail N"; the exit status is 0 only if all passed.
# Needs: default-jdk-headless libhibernate3-java libjavassist-java libpostgresql-jdbc-java
#        libjunixsocket-java libgoogle-gson-java
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
jars=(hibernate3 hibernate-entitymanager hibernate-commons-annotations geronimo-jpa_2.0_spec
	geronimo-jta-1.2-spec antlr commons-collections3 dom4j javassist slf4j-api slf4j-nop
	postgresql junixsocket-common gson)
cp=build
for j in "${jars[@]}"; do cp+=:/usr/share/java/$j.jar; done
rm -rf build
mkdir -p build
javac -d build -cp "$cp" -Xlint:all,-processing,-serial,-options $(find src test -name '*.java')
exec java -cp "$cp" OccTest
