// Package pull is the consumer's data-plane client: Download fetches a
// transfer's bytes to a file with the access token and a fresh DPoP proof per
// request, hashes them on the fly, resumes a partial file with Range and
// If-Range, and checks the result against the dataset's registered hash.
package pull
