// R2's Go sample (R2's API documentation, "JWT Token Generation"), with a timing main.
//
// GenerateJWT follows R2's sample: golang-jwt's MapClaims, a global mutex around every call,
// 60 s expiry, "" omits mid / country. main replaces the sample's main: it times GenerateJWT and
// prints "token <a token>" and "ns_per_token <median over the repetitions>" for bench/run.py.
//
// Built in GOPATH mode against Debian's golang-github-golang-jwt-jwt-dev:
//   GO111MODULE=off GOPATH=/usr/share/gocode go build -o bench/out/r2_sample bench/r2_sample.go
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/golang-jwt/jwt"
)

var (
	jwtMutex sync.Mutex
)

func GenerateJWT(kid, mySecretKey, merchantId, country string) (jwtToken string, err error) {
	jwtMutex.Lock()
	defer jwtMutex.Unlock()
	if kid == "" || mySecretKey == "" {
		return "", errors.New("error, missing kid and secret")
	}
	token := jwt.New(jwt.SigningMethodHS256)
	token.Header["kid"] = kid

	claims := token.Claims.(jwt.MapClaims)

	tokenExpiration := 60

	if merchantId != "" {
		claims["mid"] = merchantId
	}
	if country != "" {
		claims["country"] = country
	}
	claims["exp"] = time.Now().Add(time.Second * time.Duration(tokenExpiration)).Unix()

	tokenString, err := token.SignedString([]byte(mySecretKey))
	if err != nil {
		return "", err
	}
	return tokenString, nil
}

func main() {
	iterations := flag.Int("n", 20000, "calls per repetition")
	reps := flag.Int("reps", 7, "repetitions (the median is printed)")
	mid := flag.String("mid", "123456", "merchant id")
	country := flag.String("country", "MX", "country")
	flag.Parse()
	kid, secret := os.Getenv("JWT_KID"), os.Getenv("JWT_SECRET")

	token, err := GenerateJWT(kid, secret, *mid, *country)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("token", token)

	perToken := make([]float64, *reps)
	for r := range perToken {
		start := time.Now()
		for i := 0; i < *iterations; i++ {
			if _, err := GenerateJWT(kid, secret, *mid, *country); err != nil {
				log.Fatal(err)
			}
		}
		perToken[r] = float64(time.Since(start).Nanoseconds()) / float64(*iterations)
	}
	sort.Float64s(perToken)
	fmt.Printf("ns_per_token %.1f\n", perToken[len(perToken)/2])
}
